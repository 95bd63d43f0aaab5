public enum VMPlaceholder {}
