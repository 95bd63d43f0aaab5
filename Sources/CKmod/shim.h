#ifndef DMEMFUZZ_CKMOD_SHIM_H
#define DMEMFUZZ_CKMOD_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <libkmod.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/mount.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/sched.h>

/* Swift cannot call variadic C functions (ioctl) nor see _GNU_SOURCE-only ones (pipe2):
   fixed-signature wrappers for the kernel interfaces the guest agent uses next to libkmod. */
static inline int dmemfuzz_ioctl(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}
static inline int dmemfuzz_ioctl_val(int fd, unsigned long request, unsigned long value) {
    return ioctl(fd, request, value);
}
static inline int dmemfuzz_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

/* fork() straight into the cgroup open at cgroup_fd (clone3 + CLONE_INTO_CGROUP, Linux >= 5.7).
   Returns the child's pid in the parent, 0 in the child, -errno on failure (-ENOSYS: no clone3). */
static inline long dmemfuzz_clone3_into_cgroup(int cgroup_fd) {
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (unsigned long long)cgroup_fd;
    long r = syscall(SYS_clone3, &args, sizeof args);
    return r < 0 ? -errno : r;
#else
    (void)cgroup_fd;
    return -ENOSYS;
#endif
}
#endif
