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
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

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

/* fork() whose child is the caller's sibling (CLONE_PARENT): a forked actor is the agent's child
   like every actor, so the agent reaps it. Returns the pid, 0 in the child, -errno. */
static inline long dmemfuzz_fork_parent(void) {
    long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

/* The start barrier of a racing group (`par { ... }`), in MAP_SHARED memory every actor and
   runner inherits: w[0] is the go flag, w[1] counts the participants that arrived. Each one pins
   itself to its CPU (cpu < 0: stays where it is), arrives, and spins until go, so the ops leave
   the barrier within a few hundred nanoseconds of each other instead of a wakeup apart. */
static inline void *dmemfuzz_race_map(void) {
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
static inline void dmemfuzz_race_pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) CPU_SET(cpu, &set);
    else for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof set, &set);
}
static inline void dmemfuzz_race_arm(int *w) {
    __atomic_store_n(&w[0], 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&w[1], 0, __ATOMIC_SEQ_CST);
}
/* After go, participant `index` spins w[8 + index] more nanoseconds (the agent draws them): the
   same group then also tries interleavings where one op starts a little after another, which a
   simultaneous start alone almost never gives (a lookup that must come after another CPU's
   list insertion but before its second step). */
static inline void dmemfuzz_race_arrive(int *w, int cpu, int index) {
    dmemfuzz_race_pin(cpu);
    __atomic_add_fetch(&w[1], 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&w[0], __ATOMIC_ACQUIRE)) sched_yield();
    int delay = index >= 0 && index < 8 ? w[8 + index] : 0;
    if (delay > 0) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < delay);
    }
}
static inline void dmemfuzz_race_delay(int *w, int index, int ns) { if (index >= 0 && index < 8) w[8 + index] = ns; }
/* The agent: waits (at most timeout_ms) until n participants arrived, then lets them go.
   Returns how many had arrived. */
static inline int dmemfuzz_race_release(int *w, int n, int timeout_ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int got;
    while ((got = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE)) < n) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) break;
        sched_yield();
    }
    __atomic_store_n(&w[0], 1, __ATOMIC_RELEASE);
    return got;
}

/* synchronize_rcu() from user space (membarrier(2) MEMBARRIER_CMD_GLOBAL = 1), for waiting until
   a killed css's confirm callback (call_rcu) has run. */
static inline int dmemfuzz_membarrier_global(void) {
#ifdef SYS_membarrier
    return (int)syscall(SYS_membarrier, 1, 0, 0);
#else
    return -1;
#endif
}
#endif
