// cma-heap-probe: measures the dma-buf CMA heap's dmem accounting in a guest (test patch 0003).
// Build: gcc -static -O1 -Wall -o cma-heap-probe cma-heap-probe.c
// Run as root in a guest with cgroup2 on /sys/fs/cgroup and a CMA area (cma=64M):
//   cma-heap-probe [HEAP]      (default /dev/dma_heap/reserved)
// Every line it prints is one measurement: what was done, and what the kernel said.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dma-heap.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CG "/sys/fs/cgroup"
static const char *heap_path = "/dev/dma_heap/reserved";
static char region[128];
static unsigned long long region_size;

static int wr(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, val, strlen(val));
	int e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}

static int cgw(const char *cg, const char *file, const char *val)
{
	char p[256];
	snprintf(p, sizeof p, CG "/%s/%s", cg, file);
	return wr(p, val);
}

// the value of `region` in a dmem.* file of cgroup cg; -1 if missing, -2-errno on open error
static long long cgr(const char *cg, const char *file)
{
	char p[256], line[256];
	snprintf(p, sizeof p, CG "/%s/%s", cg, file);
	FILE *f = fopen(p, "r");
	if (!f)
		return -2 - errno;
	long long v = -1;
	size_t rl = strlen(region);
	while (fgets(line, sizeof line, f)) {
		if (!strncmp(line, region, rl) && line[rl] == ' ') {
			if (!strncmp(line + rl + 1, "max", 3))
				v = -100; // "max"
			else
				v = strtoll(line + rl + 1, NULL, 10);
		}
	}
	fclose(f);
	return v;
}

static const char *fmt(long long v)
{
	static char b[8][32];
	static int i;
	i = (i + 1) % 8;
	if (v == -100)
		snprintf(b[i], 32, "max");
	else if (v <= -2)
		snprintf(b[i], 32, "(open: %s)", strerror(-2 - v));
	else
		snprintf(b[i], 32, "%lld", v);
	return b[i];
}

static void mkcg(const char *cg)
{
	char p[256];
	snprintf(p, sizeof p, CG "/%s", cg);
	if (mkdir(p, 0755) && errno != EEXIST)
		printf("mkdir %s: %s\n", p, strerror(errno));
}

static void join(const char *cg)
{
	char v[32];
	snprintf(v, sizeof v, "%d", getpid());
	int e = cgw(cg, "cgroup.procs", v);
	if (e)
		printf("join %s: %s\n", cg, strerror(-e));
}

static int rmcg(const char *cg)
{
	char p[256];
	snprintf(p, sizeof p, CG "/%s", cg);
	return rmdir(p) ? -errno : 0;
}

static const char *err(int e)
{
	static char b[4][64];
	static int i;
	i = (i + 1) % 4;
	if (e >= 0)
		snprintf(b[i], 64, "ok fd %d", e);
	else
		snprintf(b[i], 64, "-%s (%d)", strerrorname_np(-e) ? strerrorname_np(-e) : "?", e);
	return b[i];
}

// DMA_HEAP_IOCTL_ALLOC: the new fd, or -errno
static int alloc3(unsigned long long len, unsigned int fd_flags, unsigned long long heap_flags)
{
	int h = open(heap_path, O_RDWR | O_CLOEXEC);
	if (h < 0)
		return -errno;
	struct dma_heap_allocation_data d = { .len = len, .fd_flags = fd_flags, .heap_flags = heap_flags };
	int r = ioctl(h, DMA_HEAP_IOCTL_ALLOC, &d);
	int e = r < 0 ? -errno : (int)d.fd;
	close(h);
	return e;
}

static int alloc(unsigned long long len) { return alloc3(len, O_RDWR | O_CLOEXEC, 0); }

static void send_fd(int sock, int fd)
{
	char c = 'F';
	struct iovec iov = { &c, 1 };
	char buf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	if (sendmsg(sock, &m, 0) < 0)
		printf("sendmsg: %s\n", strerror(errno));
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { &c, 1 };
	char buf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof buf };
	if (recvmsg(sock, &m, 0) <= 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	if (!cm)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

static void tell(int s, char c) { if (write(s, &c, 1) != 1) perror("tell"); }
static char hear(int s) { char c = 0; if (read(s, &c, 1) != 1) return 0; return c; }

#define M (1024ULL * 1024)

static void find_region(void)
{
	FILE *f = fopen(CG "/dmem.capacity", "r");
	char line[256];
	if (!f) {
		printf("dmem.capacity: %s\n", strerror(errno));
		exit(1);
	}
	printf("dmem.capacity:\n");
	while (fgets(line, sizeof line, f)) {
		printf("  %s", line);
		if (!strncmp(line, "cma/", 4) && !region[0]) {
			sscanf(line, "%127s %llu", region, &region_size);
		}
	}
	fclose(f);
	if (!region[0]) {
		printf("no cma/ region\n");
		exit(1);
	}
	printf("region %s size %llu (%llu MiB)\n", region, region_size, region_size / M);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		heap_path = argv[1];
	setvbuf(stdout, NULL, _IONBF, 0);
	find_region();
	wr(CG "/cgroup.subtree_control", "+dmem");
	mkcg("pa");
	join("pa");
	int fd;

	printf("\n== argument errors (cgroup pa, no limit) ==\n");
	printf("len 0: %s\n", err(alloc(0)));
	printf("len UINT64_MAX (PAGE_ALIGN wraps to 0): %s\n", err(alloc(~0ULL)));
	printf("heap_flags 1: %s\n", err(alloc3(4096, O_RDWR | O_CLOEXEC, 1)));
	printf("fd_flags O_RDWR|O_CLOEXEC|O_NONBLOCK: %s\n", err(alloc3(4096, O_RDWR | O_CLOEXEC | O_NONBLOCK, 0)));
	printf("fd_flags 0 (O_RDONLY): ");
	fd = alloc3(4096, 0, 0);
	printf("%s\n", err(fd));
	if (fd >= 0)
		close(fd);
	{
		int h = open(heap_path, O_RDWR);
		struct dma_heap_allocation_data d = { .len = 4096, .fd = 5, .fd_flags = O_RDWR | O_CLOEXEC };
		int r = ioctl(h, DMA_HEAP_IOCTL_ALLOC, &d);
		printf("fd field 5 on input: %s\n", err(r < 0 ? -errno : (int)d.fd));
		close(h);
	}
	printf("pa dmem.current after the failed ones: %s\n", fmt(cgr("pa", "dmem.current")));

	printf("\n== sizes ==\n");
	unsigned long long lens[] = { 1, 4095, 4096, 4097, 1 * M + 1 };
	for (unsigned i = 0; i < sizeof lens / sizeof *lens; i++) {
		fd = alloc(lens[i]);
		off_t sz = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
		printf("len %llu: %s, dma-buf size (lseek END) %lld, pa dmem.current %s", lens[i], err(fd), (long long)sz,
		       fmt(cgr("pa", "dmem.current")));
		if (fd >= 0)
			close(fd);
		printf(", after close %s\n", fmt(cgr("pa", "dmem.current")));
	}
	printf("len region+4096 (%llu): %s, pa dmem.current %s\n", region_size + 4096, err(fd = alloc(region_size + 4096)),
	       fmt(cgr("pa", "dmem.current")));
	if (fd >= 0)
		close(fd);
	printf("len 2*region (%llu): %s\n", 2 * region_size, err(fd = alloc(2 * region_size)));
	if (fd >= 0)
		close(fd);
	printf("len 1 TiB: %s, pa dmem.current %s\n", err(fd = alloc(1ULL << 40)), fmt(cgr("pa", "dmem.current")));
	if (fd >= 0)
		close(fd);
	printf("pa dmem.peak: %s\n", fmt(cgr("pa", "dmem.peak")));

	printf("\n== dmem.max ==\n");
	{
		char v[200];
		snprintf(v, sizeof v, "%s %llu", region, 2 * M);
		printf("write pa dmem.max '%s': %s\n", v, err(cgw("pa", "dmem.max", v)));
		printf("pa dmem.max: %s\n", fmt(cgr("pa", "dmem.max")));
		int a = alloc(1 * M);
		printf("alloc 1M: %s, current %s\n", err(a), fmt(cgr("pa", "dmem.current")));
		int b = alloc(1 * M);
		printf("alloc 1M: %s, current %s\n", err(b), fmt(cgr("pa", "dmem.current")));
		int c = alloc(4096);
		printf("alloc 4096 at the limit: %s, current %s\n", err(c), fmt(cgr("pa", "dmem.current")));
		if (c >= 0)
			close(c);
		close(b);
		c = alloc(2 * M);
		printf("alloc 2M with 1M charged, max 2M: %s, current %s\n", err(c), fmt(cgr("pa", "dmem.current")));
		if (c >= 0)
			close(c);
		c = alloc(1 * M + 1);
		printf("alloc 1M+1 (charged 1M+4096) with 1M charged: %s, current %s\n", err(c), fmt(cgr("pa", "dmem.current")));
		if (c >= 0)
			close(c);
		// max below current: no reclaim callback, nothing happens to the buffer
		snprintf(v, sizeof v, "%s %llu", region, 4096ULL);
		printf("write pa dmem.max '%s' with current %s: %s\n", v, fmt(cgr("pa", "dmem.current")), err(cgw("pa", "dmem.max", v)));
		printf("  pa dmem.max %s, dmem.current %s\n", fmt(cgr("pa", "dmem.max")), fmt(cgr("pa", "dmem.current")));
		char *p = mmap(NULL, M, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
		if (p != MAP_FAILED) {
			p[0] = 1;
			printf("  buffer still mapped and writable: %d\n", p[0]);
			munmap(p, M);
		} else
			printf("  mmap after max lowered: %s\n", strerror(errno));
		close(a);
		printf("  after close: current %s\n", fmt(cgr("pa", "dmem.current")));
		snprintf(v, sizeof v, "%s max", region);
		cgw("pa", "dmem.max", v);
	}

	printf("\n== mmap outlives the fd ==\n");
	{
		fd = alloc(1 * M);
		char *p = mmap(NULL, M, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		printf("alloc 1M: %s, mmap %s, current %s\n", err(fd), p == MAP_FAILED ? strerror(errno) : "ok",
		       fmt(cgr("pa", "dmem.current")));
		close(fd);
		printf("fd closed, mapping kept: current %s\n", fmt(cgr("pa", "dmem.current")));
		munmap(p, M);
		printf("munmap: current %s\n", fmt(cgr("pa", "dmem.current")));
	}

	printf("\n== fd moved with its allocator to another cgroup ==\n");
	{
		mkcg("pb");
		fd = alloc(1 * M);
		printf("alloc 1M in pa: %s, pa %s, pb %s\n", err(fd), fmt(cgr("pa", "dmem.current")), fmt(cgr("pb", "dmem.current")));
		join("pb");
		printf("allocator moved to pb: pa %s, pb %s\n", fmt(cgr("pa", "dmem.current")), fmt(cgr("pb", "dmem.current")));
		close(fd);
		printf("closed in pb: pa %s, pb %s\n", fmt(cgr("pa", "dmem.current")), fmt(cgr("pb", "dmem.current")));
		join("pa");
	}

	printf("\n== fd sent with SCM_RIGHTS to a process in another cgroup ==\n");
	{
		// par/alloc: the allocator (a child that exits); recv: the receiver
		mkcg("par");
		wr(CG "/par/cgroup.subtree_control", "+dmem");
		mkcg("par/alloc");
		mkcg("recv");
		int sv[2], cr[2], ca[2]; // cr: main <-> receiver, ca: main <-> allocator (main uses [0])
		socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
		socketpair(AF_UNIX, SOCK_STREAM, 0, cr);
		socketpair(AF_UNIX, SOCK_STREAM, 0, ca);
		pid_t r = fork();
		if (r == 0) {
			join("recv");
			int got = recv_fd(sv[1]);
			tell(cr[1], 'r');
			hear(cr[1]); // close now
			close(got);
			tell(cr[1], 'c');
			hear(cr[1]);
			_exit(0);
		}
		pid_t a = fork();
		if (a == 0) {
			join("par/alloc");
			int f = alloc(2 * M);
			printf("allocator (par/alloc) alloc 2M: %s\n", err(f));
			send_fd(sv[0], f);
			tell(ca[1], 's');
			hear(ca[1]); // close its fd
			close(f);
			tell(ca[1], 'c');
			hear(ca[1]); // exit
			_exit(0);
		}
		hear(ca[0]);
		hear(cr[0]);
		printf("sent; both hold it: par/alloc %s, par %s, recv %s\n", fmt(cgr("par/alloc", "dmem.current")),
		       fmt(cgr("par", "dmem.current")), fmt(cgr("recv", "dmem.current")));
		tell(ca[0], 'x');
		hear(ca[0]);
		printf("allocator closed its fd: par/alloc %s, recv %s\n", fmt(cgr("par/alloc", "dmem.current")),
		       fmt(cgr("recv", "dmem.current")));
		tell(ca[0], 'x');
		waitpid(a, NULL, 0);
		printf("allocator exited: par/alloc %s, par %s, recv %s\n", fmt(cgr("par/alloc", "dmem.current")),
		       fmt(cgr("par", "dmem.current")), fmt(cgr("recv", "dmem.current")));
		int e = rmcg("par/alloc");
		printf("rmdir par/alloc with 2M charged on it: %s\n", e ? strerror(-e) : "ok");
		printf("  after rmdir: par/alloc %s, par %s, recv %s\n", fmt(cgr("par/alloc", "dmem.current")),
		       fmt(cgr("par", "dmem.current")), fmt(cgr("recv", "dmem.current")));
		e = rmcg("par");
		printf("rmdir par (its dying child still charged): %s\n", e ? strerror(-e) : "ok");
		tell(cr[0], 'x');
		hear(cr[0]);
		usleep(200000);
		printf("receiver closed the last fd: par %s, recv %s\n", fmt(cgr("par", "dmem.current")), fmt(cgr("recv", "dmem.current")));
		tell(cr[0], 'x');
		waitpid(r, NULL, 0);
		usleep(200000);
		e = rmcg("par");
		printf("rmdir par after the release: %s\n", e ? strerror(-e) : "ok");
		rmcg("recv");
	}

	printf("\n== the whole region, in pieces (no limit) ==\n");
	{
		static int fds[4096];
		unsigned long long pieces[] = { region_size, 4 * M, 1 * M, 256 * 1024 };
		for (unsigned k = 0; k < sizeof pieces / sizeof *pieces; k++) {
			int n = 0, last = 0;
			unsigned long long want = region_size / pieces[k];
			while ((unsigned long long)n < want && n < 4096) {
				int f = alloc(pieces[k]);
				if (f < 0) {
					last = f;
					break;
				}
				fds[n++] = f;
			}
			printf("pieces of %llu: %d of %llu allocated (%llu bytes), stopped by %s, pa current %s\n", pieces[k], n, want,
			       n * pieces[k], (unsigned long long)n < want ? err(last) : "nothing", fmt(cgr("pa", "dmem.current")));
			if (k == 2 && n >= 4) {
				// fragment: free every other 1M piece, then ask for 2M with half the region free
				int freed = 0;
				for (int i = 0; i < n; i += 2) {
					close(fds[i]);
					fds[i] = -1;
					freed++;
				}
				char v[200];
				snprintf(v, sizeof v, "%s %llu", region, region_size);
				cgw("pa", "dmem.max", v);
				int f = alloc(2 * M);
				printf("  freed every other 1M piece (%d): current %s, max %s; alloc 2M: %s\n", freed,
				       fmt(cgr("pa", "dmem.current")), fmt(cgr("pa", "dmem.max")), err(f));
				if (f >= 0)
					close(f);
				f = alloc(1 * M);
				printf("  alloc 1M: %s, current %s\n", err(f), fmt(cgr("pa", "dmem.current")));
				if (f >= 0)
					close(f);
				snprintf(v, sizeof v, "%s max", region);
				cgw("pa", "dmem.max", v);
			}
			for (int i = 0; i < n; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			printf("  all closed: pa current %s\n", fmt(cgr("pa", "dmem.current")));
		}
	}
	printf("pa dmem.peak: %s\n", fmt(cgr("pa", "dmem.peak")));
	join("");
	printf("done\n");
	return 0;
}
