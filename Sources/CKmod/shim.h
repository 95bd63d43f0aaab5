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

/* Swift cannot call variadic C functions (ioctl) nor see _GNU_SOURCE-only ones (pipe2):
   fixed-signature wrappers for the kernel interfaces the guest agent uses next to libkmod. */
static inline int dmemfuzz_ioctl(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}
static inline int dmemfuzz_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
#endif
