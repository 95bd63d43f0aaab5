// SPDX-License-Identifier: GPL-2.0
/* dmemfuzz build-error fixture: a file no test patch touches */
