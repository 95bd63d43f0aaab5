/* The fixed part of every dmemfuzz reproducer (Sources/Campaign/repro/repro.h). A repro.c is:
 * the generated tables (ReproTables: repro_errnos[], the ioctl numbers), this file, and the
 * trace's ops as main() (ReproOps). Each op prints one line in the trace text format,
 * `<op> = <outcome>`, quoted as TracePrinter.quote quotes, so the output compares line by line
 * with a lockstep run; anything else it prints is a `#` comment line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>

/* Time per op verb; printed as "# time VERB COUNT NANOSECONDS" when DMEMFUZZ_REPRO_TIMES is set. */
static const char *kinds[32];
static unsigned long long kind_ns[32], kind_n[32];
static int nkinds;
static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}
static void tally(const char *k, unsigned long long ns)
{
	int i;
	for (i = 0; i < nkinds && strcmp(kinds[i], k); i++)
		;
	if (i == nkinds) {
		if (nkinds == 32)
			return;
		kinds[nkinds++] = k;
	}
	kind_ns[i] += ns;
	kind_n[i]++;
}
#define TIMED(kind, ...) do { unsigned long long t0_ = now_ns(); __VA_ARGS__; tally(kind, now_ns() - t0_); } while (0)
static void print_times(void)
{
	if (!getenv("DMEMFUZZ_REPRO_TIMES"))
		return;
	for (int i = 0; i < nkinds; i++)
		printf("# time %s %llu %llu\n", kinds[i], kind_n[i], kind_ns[i]);
}

#define CG "/sys/fs/cgroup"
struct vgem_create { uint64_t size; uint32_t region, handle; uint64_t id; };
struct vgem_info { uint32_t handle, resident; uint64_t size, id; };
struct dumb { uint32_t height, width, bpp, flags, handle, pitch; uint64_t size; };
struct gem_close { uint32_t handle, pad; };
struct vgem_transfer { uint32_t handle, pid; };
struct drm_version { int major, minor, patch; size_t name_len; char *name; size_t date_len; char *date; size_t desc_len; char *desc; };
/* The numbers come from the generated tables (AgentProtocol's DrmIoctl, what the agent issues);
 * their size field must be the size of the struct this file passes. */
#define IOC_SIZE(n) (((n) >> 16) & 0x3fff)
_Static_assert(IOC_SIZE(VGEM_CREATE) == sizeof(struct vgem_create), "VGEM_CREATE");
_Static_assert(IOC_SIZE(VGEM_INFO) == sizeof(struct vgem_info), "VGEM_INFO");
_Static_assert(IOC_SIZE(VGEM_TRANSFER) == sizeof(struct vgem_transfer), "VGEM_TRANSFER");
_Static_assert(IOC_SIZE(MODE_CREATE_DUMB) == sizeof(struct dumb), "MODE_CREATE_DUMB");
_Static_assert(IOC_SIZE(GEM_CLOSE) == sizeof(struct gem_close), "GEM_CLOSE");
_Static_assert(IOC_SIZE(DRM_VERSION) == sizeof(struct drm_version), "DRM_VERSION");

static int mismatches;
/* Set once a racing group took another order than the trace recorded: the expectations after it
 * are those of a run that did not happen, so they are printed but no longer counted. */
static int diverted;
/* Per thread: the members of a racing group (group() below) each run in a thread of their own. */
static __thread char out[65536];
static __thread int out_len;	/* bytes of out a read returned (data may hold NULs) */
static int in_group;	/* xalloc leaves the eviction scan to group() */

/* op 'm'/'r'/'w'/'n'/'R' (mkdir, rmdir, write, write O_NONBLOCK, read): the actor does it. */
/* Table sizes: dmemfuzz refuses traces beyond them, and every helper checks again. */
#define NACTORS 256
#define NBUFFERS 4096
#define NDATA 16384
struct cmd { int op, card; uint32_t region, handle; uint64_t size; size_t len; char path[4096], data[NDATA]; };
struct res { int err; uint32_t handle, resident; int len; };
struct actor { pid_t pid; int cmd, res, file[64]; } actors[NACTORS];	/* file: an id per open DRM file, by card (shared by a fork) */
static int next_file;
struct buffer { int live, actor, card, vgem, selftest; uint32_t handle, resident; int file; } buffers[NBUFFERS];
#define ACTOR_OK(a) ((a) >= 0 && (a) < NACTORS)
#define BUFFER_OK(b) ((b) >= 0 && (b) < NBUFFERS)
#define SELFTEST "/sys/kernel/debug/dmem_selftest"

static const char *ename(int e)
{
	/* Errno.description: the model's name, else E#<number>. */
	static char buf[16];
	for (size_t i = 0; i < sizeof(repro_errnos) / sizeof(repro_errnos[0]); i++)
		if (repro_errnos[i].num == e)
			return repro_errnos[i].name;
	snprintf(buf, sizeof(buf), "E#%d", e);
	return buf;
}

static void path(char *buf, const char *cg, const char *file)
{
	snprintf(buf, 4096, "%s%s%s%s", CG, strcmp(cg, "/") ? cg : "", file ? "/" : "", file ? file : "");
}

static int card_for(const char *driver, const char *device)
{
	for (int i = 0; i < 64; i++) {
		char p[64], name[64] = "", link[256];
		snprintf(p, sizeof(p), "/dev/dri/card%d", i);
		int fd = open(p, O_RDWR);
		if (fd < 0)
			continue;
		struct drm_version v = { .name_len = sizeof(name) - 1, .name = name };
		ioctl(fd, DRM_VERSION, &v);
		close(fd);
		snprintf(p, sizeof(p), "/sys/class/drm/card%d/device", i);
		ssize_t n = readlink(p, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		const char *dev = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
		if (!strcmp(name, driver) && (!device || !strcmp(dev, device)))
			return i;
	}
	return -1;
}

static int readfull(int fd, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, (char *)buf + off, len - off);
		if (n <= 0)
			return 0;
		off += n;
	}
	return 1;
}

/* One write(2) of data to the file at p: the reproducer's cgroupfs writes and its actors'. */
static int write_path(const char *p, const char *data, size_t len, int nonblock)
{
	int fd = open(p, O_WRONLY | (nonblock ? O_NONBLOCK : 0));
	if (fd < 0)
		return errno;
	int r = write(fd, data, len) < 0 ? errno : 0;
	close(fd);
	return r;
}

/* A vkms configfs device (one primary plane, crtc, encoder, connector); enabling it registers
 * region vkms/<name>, disabling it unregisters it: what the agent's VkmsConfig does. */
#define VKMS "/sys/kernel/config/vkms/"
/* A test module's load and unload, as the agent's Kmod does them: finit_module(2) of
 * /lib/modules/<release>/kernel/drivers/gpu/drm/<name>/<name>.ko in this thread (its init runs
 * here, so a `fail` armed for this thread reaches dmem_cgroup_register_region()), EEXIST when
 * it is loaded; delete_module(2) with O_NONBLOCK, as libkmod's kmod_module_remove_module(). Its
 * dependencies (drm_shmem_helper, ttm, drm_kms_helper) stay loaded from the boot. */
static __attribute__((unused)) int xmodload(const char *name, const char *params)
{
	char p[256];
	struct utsname u;
	snprintf(p, sizeof(p), "/sys/module/%s", name);
	if (access(p, F_OK) == 0)
		return EEXIST;
	if (uname(&u))
		return errno;
	snprintf(p, sizeof(p), "/lib/modules/%s/kernel/drivers/gpu/drm/%s/%s.ko", u.release, name, name);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int r = syscall(SYS_finit_module, fd, params, 0) ? errno : 0;
	close(fd);
	return r;
}

static __attribute__((unused)) int xmodunload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? errno : 0;
}

/* The configfs tree of a device, links first (xvkms_destroy, and a device vkms_create() refused). */
static __attribute__((unused)) void xvkms_remove(const char *name)
{
	static const char *links[] = { "/planes/plane0/possible_crtcs/crtc0", "/encoders/encoder0/possible_crtcs/crtc0",
		"/connectors/connector0/possible_encoders/encoder0" };
	static const char *dirs[] = { "/planes/plane0", "/crtcs/crtc0", "/encoders/encoder0", "/connectors/connector0", "" };
	char p[512];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), VKMS "%s%s", name, links[i]);
		unlink(p);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), VKMS "%s%s", name, dirs[i]);
		rmdir(p);
	}
}

static __attribute__((unused)) int xvkms_create(const char *name)
{
	static const char *subs[] = { "", "/planes/plane0", "/crtcs/crtc0", "/encoders/encoder0", "/connectors/connector0" };
	static const char *links[][2] = { { "/crtcs/crtc0", "/planes/plane0/possible_crtcs/crtc0" },
		{ "/crtcs/crtc0", "/encoders/encoder0/possible_crtcs/crtc0" },
		{ "/encoders/encoder0", "/connectors/connector0/possible_encoders/encoder0" } };
	char p[512], t[512];
	system("modprobe vkms 2>/dev/null");
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), VKMS "%s%s", name, subs[i]);
		if (mkdir(p, 0755) && !(errno == EEXIST && i > 0))
			return errno;
	}
	snprintf(p, sizeof(p), VKMS "%s/planes/plane0/type", name);
	int r = write_path(p, "1", 1, 0);
	if (r)
		return r;
	for (int i = 0; i < 3; i++) {
		snprintf(t, sizeof(t), VKMS "%s%s", name, links[i][0]);
		snprintf(p, sizeof(p), VKMS "%s%s", name, links[i][1]);
		if (symlink(t, p) && errno != EEXIST)
			return errno;
	}
	snprintf(p, sizeof(p), VKMS "%s/enabled", name);
	if ((r = write_path(p, "1", 1, 0)))
		xvkms_remove(name);	/* refused (a failed registration): nothing left behind */
	return r;
}

static __attribute__((unused)) int xvkms_destroy(const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), VKMS "%s/enabled", name);
	int r = write_path(p, "0", 1, 0);
	if (r)
		return r;
	xvkms_remove(name);
	return 0;
}

/* One read(2) of the file at p into out (NUL-terminated); *len gets the bytes read. */
static int read_path(const char *p, int *len)
{
	*len = 0;
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return errno;
	ssize_t n = read(fd, out, sizeof(out) - 1);
	int r = n < 0 ? errno : 0;
	*len = n > 0 ? n : 0;
	out[*len] = 0;
	close(fd);
	return r;
}

static void actor_loop(int cmdfd, int resfd, int *fds)
{
	static __thread struct cmd c;
	while (readfull(cmdfd, &c, sizeof(c))) {
		struct res r = { 0 };
		if (c.op == 'x')
			_exit(0);
		if (c.op == 'F') {	/* fork: a sibling (CLONE_PARENT) sharing these fds, on new pipes */
			int nc[2], nr[2];
			if (pipe(nc) || pipe(nr)) {
				r.err = errno;
				write(resfd, &r, sizeof(r));
				continue;
			}
			long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
			if (!pid) {	/* the new actor goes on with this loop, on its own pipes */
				close(cmdfd); close(resfd); close(nc[1]); close(nr[0]);
				cmdfd = nc[0];
				resfd = nr[1];
				continue;
			}
			close(nc[0]); close(nr[1]);
			r.err = pid < 0 ? errno : 0;
			r.handle = pid > 0 ? (uint32_t)pid : 0;
			r.resident = (uint32_t)nc[1];
			r.len = 0;
			write(resfd, &r, sizeof(r));
			write(resfd, &nr[0], sizeof(int));
			readfull(cmdfd, &c, sizeof(c));	/* the ack: main opened its ends through /proc */
			close(nc[1]); close(nr[0]);
			continue;
		}
		if (c.op == 'u' || c.op == 'c' || strchr("mrwnR", c.op)) {
			if (c.op == 'u') {
				r.err = setuid(c.region) ? errno : 0;
			} else if (c.op == 'c') {	/* libcap's cap_set_proc(cap_init()) */
				uint32_t hdr[2] = { 0x20080522, 0 }, data[6] = { 0 };
				r.err = syscall(SYS_capset, hdr, data) ? errno : 0;
			} else if (c.op == 'm') {
				r.err = mkdir(c.path, 0755) ? errno : 0;
			} else if (c.op == 'r') {
				r.err = rmdir(c.path) ? errno : 0;
			} else if (c.op == 'R') {
				r.err = read_path(c.path, &r.len);
			} else {
				r.err = write_path(c.path, c.data, c.len, c.op == 'n');
			}
			write(resfd, &r, sizeof(r));
			if (r.len)
				write(resfd, out, r.len);
			continue;
		}
		if (fds[c.card] < 0) {
			char p[64];
			snprintf(p, sizeof(p), "/dev/dri/card%d", c.card);
			fds[c.card] = open(p, O_RDWR);
			if (fds[c.card] < 0) {	/* the device went away (a vkms device disabled): its errno, as the agent's actor says */
				r.err = errno;
				write(resfd, &r, sizeof(r));
				continue;
			}
		}
		int fd = fds[c.card];
		if (c.op == 'v') {
			struct vgem_create a = { .size = c.size, .region = c.region };
			r.err = ioctl(fd, VGEM_CREATE, &a) ? errno : 0;
			r.handle = a.handle;
		} else if (c.op == 'd') {
			struct dumb a = { .height = c.size / 4096, .width = 1024, .bpp = 32 };
			r.err = ioctl(fd, MODE_CREATE_DUMB, &a) ? errno : 0;
			r.handle = a.handle;
		} else if (c.op == 'f') {
			struct gem_close a = { .handle = c.handle };
			r.err = ioctl(fd, GEM_CLOSE, &a) ? errno : 0;
		} else if (c.op == 'i') {
			struct vgem_info a = { .handle = c.handle };
			r.err = ioctl(fd, VGEM_INFO, &a) ? errno : 0;
			r.resident = a.resident;
		} else if (c.op == 'I') {	/* this file's fdinfo */
			char p[64];
			snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
			r.err = read_path(p, &r.len);
			write(resfd, &r, sizeof(r));
			if (r.len)
				write(resfd, out, r.len);
			continue;
		} else if (c.op == 't') {	/* charge transfer to the task c.size */
			struct vgem_transfer a = { .handle = c.handle, .pid = (uint32_t)c.size };
			r.err = ioctl(fd, VGEM_TRANSFER, &a) ? errno : 0;
		}
		write(resfd, &r, sizeof(r));
	}
	_exit(0);
}

static struct res call(int a, struct cmd c)
{
	struct res r = { .err = ESRCH };
	if (!ACTOR_OK(a) || !actors[a].pid)
		return r;
	write(actors[a].cmd, &c, sizeof(c));
	readfull(actors[a].res, &r, sizeof(r));
	out_len = 0;
	if (r.len > 0) {
		if (r.len > (int)sizeof(out) - 1)
			r.len = sizeof(out) - 1;
		readfull(actors[a].res, out, r.len);
		out[r.len] = 0;
		out_len = r.len;
	}
	return r;
}

static int xsetuid(int a, unsigned uid) { return call(a, (struct cmd){ .op = 'u', .region = uid }).err; }
static int xdropcaps(int a) { return call(a, (struct cmd){ .op = 'c' }).err; }

/* Delegation as cgroup-v2.rst describes it: chown the directory and three of its files. */
static int xdelegate(const char *cg, unsigned uid)
{
	const char *files[] = { NULL, "cgroup.procs", "cgroup.threads", "cgroup.subtree_control" };
	char p[4096];
	for (int i = 0; i < 4; i++) {
		path(p, cg, files[i]);
		if (chown(p, uid, -1))
			return errno;
	}
	return 0;
}

/* The actor performs a cgroupfs op itself, with its own credentials. */
static int xas(int a, int op, const char *cg, const char *file, const char *data, size_t len)
{
	static __thread struct cmd c;
	memset(&c, 0, sizeof(c));
	if (len > sizeof(c.data))
		return E2BIG;
	c.op = op;
	path(c.path, cg, file);
	memcpy(c.data, data, len);
	c.len = len;
	out[0] = 0;
	out_len = 0;
	struct res r = call(a, c);
	return op == 'R' && !r.err ? -1 : r.err;
}

static int xasmove(int a, int b, const char *cg)
{
	char pid[32];
	if (!ACTOR_OK(a) || !ACTOR_OK(b) || !actors[a].pid || !actors[b].pid)
		return ESRCH;
	snprintf(pid, sizeof(pid), "%d", actors[b].pid);
	return xas(a, 'w', cg, "cgroup.procs", pid, strlen(pid));
}

static int xmkdir(const char *cg) { char p[4096]; path(p, cg, NULL); return mkdir(p, 0755) ? errno : 0; }
static int xrmdir(const char *cg) { char p[4096]; path(p, cg, NULL); return rmdir(p) ? errno : 0; }

static int xwrite(const char *cg, const char *file, const char *data, size_t len, int nonblock)
{
	char p[4096];
	path(p, cg, file);
	return write_path(p, data, len, nonblock);
}

static int xread(const char *cg, const char *file)
{
	char p[4096];
	int n;
	path(p, cg, file);
	int r = read_path(p, &n);
	out_len = n;
	return r ? r : -1;	/* -1: print the data */
}

static int xspawn(int a, const char *cg)
{
	int c[2], r[2];
	char p[4096], pid[32];
	if (!ACTOR_OK(a))
		return EINVAL;
	path(p, cg, "cgroup.procs");
	pipe(c); pipe(r);
	pid_t child = fork();
	if (!child) {
		static int fds[64];
		for (int i = 0; i < 64; i++)
			fds[i] = -1;
		close(c[1]); close(r[0]);
		actor_loop(c[0], r[1], fds);
	}
	close(c[0]); close(r[1]);
	actors[a] = (struct actor){ child, c[1], r[0], { 0 } };
	int fd = open(p, O_WRONLY);
	int e = fd < 0 ? errno : 0;
	if (!e) {
		snprintf(pid, sizeof(pid), "%d", child);
		e = write(fd, pid, strlen(pid)) < 0 ? errno : 0;
		close(fd);
	}
	if (e) {
		kill(child, 9); waitpid(child, NULL, 0);
		actors[a].pid = 0;
	}
	return e;
}

static int xmove(int a, const char *cg)
{
	char p[4096], pid[32];
	if (!ACTOR_OK(a) || !actors[a].pid)
		return ESRCH;
	path(p, cg, "cgroup.procs");
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return errno;
	snprintf(pid, sizeof(pid), "%d", actors[a].pid);
	int e = write(fd, pid, strlen(pid)) < 0 ? errno : 0;
	close(fd);
	return e;
}

/* The card a test region is on (the agent's Drm.target): vgem/regionN on vgem's card, vkms/NAME
 * on vkms device NAME (vkms/default: the module's own device); -1 when there is none. */
static int region_card(const char *region)
{
	if (!strncmp(region, "vgem/region", 11))
		return card_for("vgem", NULL);
	if (!strncmp(region, "vkms/", 5))
		return card_for("vkms", strcmp(region + 5, "default") ? region + 5 : "vkms");
	return -1;
}

/* Seat users may open DRM nodes, as udev's uaccess grants them (the agent's Sys.grantCardAccess). */
static void grant_card(int card)
{
	char node[64];
	snprintf(node, sizeof(node), "/dev/dri/card%d", card);
	chmod(node, 0666);
}

/* The actor's DRM file of `card`, which the actor opens on its first use of it (ids from 1). */
static int opened(int a, int card)
{
	if (card < 0 || card >= 64)
		return 0;
	if (!actors[a].file[card])
		actors[a].file[card] = ++next_file;
	return actors[a].file[card];
}

/* Whether actor a holds the file buffer b's handle is in. */
static int holds(int a, int b)
{
	return ACTOR_OK(a) && actors[a].pid && buffers[b].card >= 0 && buffers[b].card < 64 && buffers[b].file && actors[a].file[buffers[b].card] == buffers[b].file;
}

static int xexit(int a)
{
	if (!ACTOR_OK(a) || !actors[a].pid)
		return ESRCH;
	struct cmd c = { .op = 'x' };
	write(actors[a].cmd, &c, sizeof(c));
	waitpid(actors[a].pid, NULL, 0);
	close(actors[a].cmd); close(actors[a].res);
	actors[a].pid = 0;
	for (int i = 0; i < NBUFFERS; i++)
		if (buffers[i].live && buffers[i].actor == a && !buffers[i].selftest) {	/* the module holds those */
			int heir = -1;	/* another holder of its DRM file keeps it */
			for (int k = 0; k < NACTORS && heir < 0; k++)
				if (holds(k, i))
					heir = k;
			if (heir >= 0)
				buffers[i].actor = heir;
			else
				buffers[i].live = 0;
		}
	return 0;
}

/* fork(2) of actor a into actor child (the agent's ActorTable.fork). */
static __attribute__((unused)) int xfork(int a, int child)
{
	if (!ACTOR_OK(a) || !actors[a].pid)
		return ESRCH;
	if (!ACTOR_OK(child) || actors[child].pid)
		return EEXIST;
	struct cmd c = { .op = 'F' };
	struct res r;
	int resfd = -1;
	write(actors[a].cmd, &c, sizeof(c));
	readfull(actors[a].res, &r, sizeof(r));
	readfull(actors[a].res, &resfd, sizeof(resfd));
	if (r.err)
		return r.err;
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd/%u", actors[a].pid, r.resident);
	int cmd = open(p, O_WRONLY);
	snprintf(p, sizeof(p), "/proc/%d/fd/%d", actors[a].pid, resfd);
	int res = open(p, O_RDONLY);
	write(actors[a].cmd, &c, sizeof(c));	/* the ack */
	actors[child] = actors[a];
	actors[child].pid = (pid_t)r.handle;
	actors[child].cmd = cmd;
	actors[child].res = res;
	return cmd < 0 || res < 0 ? EIO : 0;
}


/* The actor's fdinfo of the card `region` is on: its drm- lines without drm-client-id and
 * drm-pdev (the agent's Drm.fdinfoLines). */
static __attribute__((unused)) int xfdinfo(int a, const char *region)
{
	if (!ACTOR_OK(a) || !actors[a].pid)
		return ESRCH;
	int card = region_card(region);
	if (card < 0)
		return ENODEV;
	grant_card(card);
	opened(a, card);
	struct res r = call(a, (struct cmd){ .op = 'I', .card = card });
	if (r.err)
		return r.err;
	char all[sizeof(out)];
	memcpy(all, out, out_len + 1);
	int n = 0;
	for (char *line = all, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strncmp(line, "drm-", 4) || !strncmp(line, "drm-client-id:", 14) || !strncmp(line, "drm-pdev:", 9))
			continue;
		n += snprintf(out + n, sizeof(out) - n, "%s\n", line);
	}
	out_len = n;
	return -1;	/* print the data */
}

static __thread char evicted[4096];

/* Asks every vgem buffer believed resident whether it still is, and appends " bN" to dst for
 * each one that was evicted (the agent's residency check after an allocation or a group). */
static void scan_evictions(char *dst, size_t cap)
{
	for (int i = 0; i < NBUFFERS; i++) {
		if (!buffers[i].live || !buffers[i].vgem || !buffers[i].resident)
			continue;
		struct res q = call(buffers[i].actor, (struct cmd){ .op = 'i', .card = buffers[i].card, .handle = buffers[i].handle });
		if (!q.err && !q.resident) {
			buffers[i].resident = 0;
			snprintf(dst + strlen(dst), cap - strlen(dst), " b%d", i);
		}
	}
}

static int xalloc(int a, const char *region, unsigned long long size, int b)
{
	static __thread struct cmd c;
	memset(&c, 0, sizeof(c));
	c.size = size;
	evicted[0] = 0;
	if (!ACTOR_OK(a) || !BUFFER_OK(b))
		return EINVAL;
	if (!strcmp(region, "dmem_selftest")) {	/* the actor writes the size: its cgroup is charged */
		static __thread struct cmd w = { .op = 'w' };
		strcpy(w.path, SELFTEST "/charge");
		w.len = snprintf(w.data, sizeof(w.data), "%llu", size);
		struct res r = call(a, w);
		if (!r.err)
			buffers[b] = (struct buffer){ .live = 1, .actor = a, .selftest = 1, .resident = 1 };
		return r.err;
	}
	c.card = region_card(region);
	if (c.card < 0)
		return ENODEV;
	if (!strncmp(region, "vgem/", 5)) {
		c.op = 'v'; c.region = atoi(region + 11);
	} else {
		if (size == 0 || size % 4096)	/* whole 4096-byte rows only, as the agent does */
			return EINVAL;
		c.op = 'd';
	}
	grant_card(c.card);
	int file = opened(a, c.card);
	struct res r = call(a, c);
	if (c.op == 'v' && !in_group)	/* which resident vgem buffers did this allocation evict? */
		scan_evictions(evicted, sizeof(evicted));
	if (!r.err)
		buffers[b] = (struct buffer){ .live = 1, .actor = a, .card = c.card, .vgem = c.op == 'v', .handle = r.handle, .resident = 1, .file = file };
	return r.err;
}

static int xfree(int b)
{
	if (!BUFFER_OK(b) || !buffers[b].live)
		return ENOENT;
	if (buffers[b].selftest) {
		int e = write_path(SELFTEST "/uncharge", "1", 1, 0);
		if (!e)
			buffers[b].live = 0;
		return e;
	}
	struct res r = call(buffers[b].actor, (struct cmd){ .op = 'f', .card = buffers[b].card, .handle = buffers[b].handle });
	if (!r.err)
		buffers[b].live = 0;
	return r.err;
}

/* The actor moves its vgem buffer's charge to actor `to`'s cgroup (pid 0 once `to` is gone:
 * vgem's ESRCH); a buffer of another actor's file is no handle it could name. */
static __attribute__((unused)) int xtransfer(int a, int b, int to)
{
	if (!ACTOR_OK(a) || !actors[a].pid)
		return ESRCH;
	if (!BUFFER_OK(b) || !buffers[b].live || !holds(a, b) || !buffers[b].vgem)
		return ENOENT;
	uint64_t pid = ACTOR_OK(to) ? (uint64_t)actors[to].pid : 0;
	return call(a, (struct cmd){ .op = 't', .card = buffers[b].card, .handle = buffers[b].handle, .size = pid }).err;
}

static int xresident(int b)
{
	if (!BUFFER_OK(b) || !buffers[b].live)
		return ENOENT;
	if (!buffers[b].vgem) {
		strcpy(out, "1");
		return -2;
	}
	struct res r = call(buffers[b].actor, (struct cmd){ .op = 'i', .card = buffers[b].card, .handle = buffers[b].handle });
	snprintf(out, sizeof(out), "%u", r.resident);
	return r.err ? r.err : -2;
}

static int xdying(const char *cg)
{
	usleep(200000);	/* css release is asynchronous */
	int r = xread(cg, "cgroup.stat");
	if (r != -1)
		return r;
	char *p = strstr(out, "nr_dying_descendants ");
	snprintf(out, sizeof(out), "%d", p ? atoi(p + 21) : -1);
	return -2;
}

/* The bytes as TracePrinter.quote (Sources/Trace/Print.swift) prints them: \n \t \r \" \\,
 * printable ASCII as is, every other byte \xHH in lowercase hex. dst holds 4 * n + 3 bytes. */
static size_t quote(char *dst, const unsigned char *s, size_t n)
{
	char *d = dst;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char b = s[i];
		if (b == '\n')
			d += sprintf(d, "\\n");
		else if (b == '\t')
			d += sprintf(d, "\\t");
		else if (b == '\r')
			d += sprintf(d, "\\r");
		else if (b == '"' || b == '\\')
			d += sprintf(d, "\\%c", b);
		else if (b >= 0x20 && b <= 0x7e)
			*d++ = b;
		else
			d += sprintf(d, "\\x%02x", b);
	}
	*d++ = '"';
	*d = 0;
	return d - dst;
}

/* `fail N op` (Sources/AgentCore/Fault.swift does the same for the agent, both from
 * Sources/AgentProtocol/Failslab.swift): failslab armed for
 * the task doing the op (the actor's process, else this thread), with probability 100 for the
 * next N allocations that have a frame inside one dmem.c function (the stack filter of
 * CONFIG_FAULT_INJECTION_STACKTRACE_FILTER); the outcome line says how many were injected. */
static int injected = -1;	/* the last fail op's count, printed by report(); -1: none */
static char fail_task[64];

static int fail_set(const char *file, const char *v)
{
	char p[128];
	snprintf(p, sizeof(p), FAILSLAB "%s", file);
	return write_path(p, v, strlen(v), 0);
}

/* The function's text: its /proc/kallsyms address up to the next symbol's. */
static int fail_range(const char *fn, unsigned long long *start, unsigned long long *end)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512], type, name[256];
	unsigned long long addr;
	size_t n = strlen(fn);
	*start = 0;
	if (!f)
		return errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (*start) {
			if (addr > *start) {
				*end = addr;
				fclose(f);
				return 0;
			}
			continue;
		}
		if ((type == 't' || type == 'T') && addr && !strncmp(name, fn, n) && (!name[n] || name[n] == '.'))
			*start = addr;
	}
	fclose(f);
	return ENOENT;
}

/* The stack filter's <which>-start and <which>-end. */
static int fail_set_range(const char *which, unsigned long long start, unsigned long long end)
{
	char f[32], v[32];
	int r;
	snprintf(f, sizeof(f), "%s-start", which);
	snprintf(v, sizeof(v), "0x%llx", start);
	if ((r = fail_set(f, v)))
		return r;
	snprintf(f, sizeof(f), "%s-end", which);
	snprintf(v, sizeof(v), "0x%llx", end);
	return fail_set(f, v);
}

/* `fail N op`: the next `count` allocations in fn fail (times, task-filter, make-it-fail);
 * `fail nth K op` (nth set): the count-th one alone (the task's fail-nth; times stays 0). */
static __attribute__((unused)) int fail_arm(int count, int nth, const char *fn, int a)
{
	unsigned long long s, e;
	char v[32];
	int r;
	fail_task[0] = 0;
	if (a >= 0 && (!ACTOR_OK(a) || !actors[a].pid))
		return 0;	/* no such actor: the op says ESRCH, nothing is armed */
	/* the generated repro_failslab[] (ReproTables): `times` 0 first, then the fixed attributes */
	for (size_t i = 0; i < sizeof(repro_failslab) / sizeof(repro_failslab[0]); i++)
		if ((r = fail_set(repro_failslab[i][0], repro_failslab[i][1])))
			return r;
	/* SLUB's sheaf kmalloc inside fn's allocation is not one of fn's (Failslab.rejectFunction) */
	if (!fail_range(FAILSLAB_REJECT, &s, &e) && (r = fail_set_range("reject", s, e)))
		return r;
	if ((r = fail_range(fn, &s, &e)) || (r = fail_set_range("require", s, e)))
		return r;
	snprintf(v, sizeof(v), "%d", count);
	if (!nth && (r = fail_set("times", v)))
		return r;
	if (a >= 0)
		snprintf(fail_task, sizeof(fail_task), "/proc/%d/%s", actors[a].pid, nth ? "fail-nth" : "make-it-fail");
	else
		snprintf(fail_task, sizeof(fail_task), "/proc/thread-self/%s", nth ? "fail-nth" : "make-it-fail");
	return nth ? write_path(fail_task, v, strlen(v), 0) : write_path(fail_task, "1", 1, 0);
}

static __attribute__((unused)) void fail_disarm(int count, int nth)
{
	char p[64], buf[32] = "";
	int fd;
	injected = 0;
	if (!fail_task[0])
		return;
	if (nth) {
		/* fail-nth reads 0 once the count-th allocation failed; then it is idle again */
		fd = open(fail_task, O_RDONLY);
		if (fd >= 0) {
			if (read(fd, buf, sizeof(buf) - 1) < 0)
				buf[0] = 'x';
			close(fd);
		}
		injected = buf[0] == '0';
		write_path(fail_task, "0", 1, 0);
		return;
	}
	write_path(fail_task, "0", 1, 0);
	snprintf(p, sizeof(p), FAILSLAB "times");
	fd = open(p, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof(buf) - 1) < 0)
			buf[0] = 0;
		close(fd);
	}
	injected = count - atoi(buf);
	fail_set("times", "0");
}

/* One line per op in the trace text format, `<op> = <outcome>` (TracePrinter.step); a mismatch
 * with the model's expectation adds a comment line after it. */
#define GOT_SIZE (4 * sizeof(out) + 64)	/* every byte of out may become \xHH */
static size_t format_outcome(char *got, int r)
{
	size_t n;
	if (r == -1)	/* quoted data */
		n = quote(got, (unsigned char *)out, out_len);
	else if (r == -2)	/* a number */
		n = snprintf(got, GOT_SIZE, "%s", out);
	else
		n = snprintf(got, GOT_SIZE, "%s", r ? ename(r) : "ok");
	return n;
}

static void report(const char *op, int r, const char *expect)
{
	static char got[GOT_SIZE];
	size_t n = format_outcome(got, r);
	if (injected >= 0 && n < sizeof(got))
		n += snprintf(got + n, sizeof(got) - n, " injected %d", injected);
	injected = -1;
	if (evicted[0] && n < sizeof(got))
		snprintf(got + n, sizeof(got) - n, " evicted%s", evicted);
	evicted[0] = 0;
	int same = diverted || !strcmp(got, expect) || !strcmp(expect, "?");
	mismatches += !same;
	printf("%s = %s\n", op, got);
	if (!same)
		printf("# >>> mismatch: the model expects %s\n", expect);
}

/* A racing group (`par { ... }`): every member runs in a thread of its own, pinned to a CPU
 * each, and all leave one barrier together, as the agent starts them (Sources/GuestAgent/Race.swift).
 * The group's line is `{ o1 | o2 ... }` and the buffers evicted after it; it matches when it is
 * the outcome of one of the orders the model allows (`accept`, every distinct linearization).
 * Once a group took another order than the trace's, or gave an outcome two orders give with
 * different states after (`ambiguous`), the outcomes after it are printed and not checked. */
struct member { int (*fn)(void); int cpu; pthread_barrier_t *go; char *got; };

static void *member_main(void *p)
{
	struct member *m = p;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(m->cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	pthread_barrier_wait(m->go);
	int r = m->fn();
	format_outcome(m->got, r);
	return NULL;
}

static __attribute__((unused)) void group(const char *op, int (*const *fns)(void), int n, const char *const *accept,
					  const char *const *ambiguous, const char *recorded)
{
	struct member m[8];
	pthread_t t[8];
	pthread_barrier_t go;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_barrier_init(&go, NULL, n);
	in_group = 1;
	for (int i = 0; i < n; i++) {
		m[i] = (struct member){ .fn = fns[i], .cpu = cpus > 0 ? i % cpus : 0, .go = &go, .got = malloc(GOT_SIZE) };
		pthread_create(&t[i], NULL, member_main, &m[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	in_group = 0;
	pthread_barrier_destroy(&go);
	static char line[8 * GOT_SIZE + 8192];
	size_t len = snprintf(line, sizeof(line), "{ ");
	for (int i = 0; i < n; i++) {
		len += snprintf(line + len, sizeof(line) - len, "%s%s", i ? " | " : "", m[i].got);
		free(m[i].got);
	}
	len += snprintf(line + len, sizeof(line) - len, " }");
	/* Every vgem buffer believed resident (resident before the group, or allocated in it). */
	char ev[4096] = "";
	scan_evictions(ev, sizeof(ev));
	if (ev[0])
		len += snprintf(line + len, sizeof(line) - len, " evicted%s", ev);
	int same = diverted;
	for (const char *const *a = accept; *a; a++)
		same |= !strcmp(line, *a) || !strcmp(*a, "?");
	mismatches += !same;
	printf("%s = %s\n", op, line);
	if (same && !diverted && strcmp(recorded, "?") && strcmp(line, recorded)) {
		diverted = 1;
		printf("# another order than the trace's (%s): the outcomes after it are not checked\n", recorded);
	}
	for (const char *const *a = ambiguous; same && !diverted && *a; a++)
		if (!strcmp(line, *a)) {
			diverted = 1;
			printf("# more than one order gives that, with different states after: the outcomes after it are not checked\n");
		}
	if (!same) {
		printf("# >>> mismatch: no order of the group gives that; the model allows:\n");
		for (const char *const *a = accept; *a; a++)
			printf("#     %s\n", *a);
	}
}

/* The trace once, or $DMEMFUZZ_REPRO_LOOP times until a run mismatches (a race need not show the
 * first time): each run in a child of its own, which kills its actors at the end (their buffers
 * go with their fds), then the cgroups and vkms devices it made are removed again so the next run starts
 * from the boot state. Exit 1 at the first run that mismatched, 0 if none did. */
static __attribute__((unused)) int run_loop(int (*run)(void), const char *const *cgroups, const char *const *vkms)
{
	const char *env = getenv("DMEMFUZZ_REPRO_LOOP");
	int loops = env ? atoi(env) : 1;
	if (loops < 1)
		loops = 1;
	if (loops == 1)
		return run();
	for (int i = 0; i < loops; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			int r = run();
			for (int a = 0; a < NACTORS; a++)	/* the actors still alive, and their buffers */
				if (actors[a].pid) {
					kill(actors[a].pid, SIGKILL);
					waitpid(actors[a].pid, NULL, 0);
				}
			_exit(r);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		for (const char *const *c = cgroups; *c; c++) {
			char p[4096];
			path(p, *c, NULL);
			/* The run's actors were its children: they leave their cgroups as they exit. */
			for (int tries = 0; rmdir(p) && errno == EBUSY && tries < 200; tries++)
				usleep(10000);
		}
		for (const char *const *v = vkms; *v; v++)
			xvkms_destroy(*v);
		write_path("/sys/fs/cgroup/cgroup.subtree_control", "+dmem", 5, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("# reproduced on run %d of %d\n", i + 1, loops);
			return 1;
		}
	}
	printf("# no mismatch in %d runs\n", loops);
	return 0;
}
