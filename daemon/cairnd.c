/*
 * daemon/cairnd.c - main() of the cairn daemon: command line, start-up
 * order, daemonizing, pidfile.
 *
 *   cairnd [-c file] [-d] [-p port] [-v]... [-V] [-h]
 *
 * Start-up runs in Unbound's order so that mistakes reach the terminal:
 * the config is read and checked, the listening sockets opened, the TLS
 * context and the shared tables built, all with errors on stderr and
 * exit status 1; only then does cairnd fork into the background
 * (unless -d), open its log (unless -d -d), write its pidfile, chroot
 * (chroot:), drop to username: and start its threads.  Signals, workers
 * and reload live in daemon/daemon.c.
 * This file does not know DNS, HTTP or sockets.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>
#ifdef HAVE_NGHTTP2
#include <nghttp2/nghttp2.h>
#endif

#include "daemon/daemon.h"
#include "daemon/worker.h"
#include "util/config.h"
#include "util/log.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: cairnd [options]\n"
	    "  start the cairn caching DNS resolver daemon.\n"
	    "options:\n"
	    "  -c file  config file to read instead of %s\n"
	    "           (without -c, a missing default file means the\n"
	    "           built-in default: listen on 127.0.0.1 and ::1,\n"
	    "           forward to the nameservers of /etc/resolv.conf)\n"
	    "  -d       do not fork into the background; given twice, keep\n"
	    "           logging to stderr\n"
	    "  -p port  port to listen on, overrides the config's port\n"
	    "  -v       more verbose (repeat for more)\n"
	    "  -V       show version, libraries and features, then exit\n"
	    "  -h       show this help, then exit\n"
	    "version %s\n", CONFIG_DEFAULT_FILE, PACKAGE_VERSION);
}

static void
print_version(void)
{
	printf("cairnd %s\n", PACKAGE_VERSION);
	printf("libevent %s\n", event_get_version());
	printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
#ifdef HAVE_NGHTTP2
	printf("nghttp2 %s\n", nghttp2_version(0)->version_str);
	printf("features: DoH yes, DoT yes\n");
#else
	printf("features: DoH no, DoT yes\n");
#endif
}

/* Fork into the background and leave the terminal. Returns 0 in the
 * child; the parent exits. -errno on failure. */
static int
daemonize(void)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

/* Write our pid; a failure is only a warning (as in Unbound). */
static bool
pidfile_write(const char *path)
{
	FILE *f;

	if (path == NULL || path[0] == 0)
		return false;
	f = fopen(path, "w");
	if (f == NULL) {
		log_warn("could not write pidfile %s: %s", path,
		    strerror(errno));
		return false;
	}
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0) {
		log_warn("could not write pidfile %s: %s", path,
		    strerror(errno));
		return false;
	}
	return true;
}

/*
 * The account of 'username' (looked up before the fork, so that a
 * missing user is reported on stderr).  Returns 0, or -1 after writing
 * why to stderr.
 */
static int
user_lookup(const char *username, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(username);
	if (pw == NULL) {
		fprintf(stderr, "cairnd: username: %s: no such user%s%s\n",
		    username, errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/*
 * The supplementary groups of 'username', set while /etc/group can still
 * be read (before the chroot).  Nothing to do when we already run as
 * that user.  Returns 0 or -1 (logged).
 */
static int
user_groups(const char *username, uid_t uid, gid_t gid)
{
	if (geteuid() == uid && getegid() == gid)
		return 0;
	if (initgroups(username, gid) != 0) {
		log_err_errno("username: %s: could not set its groups",
		    username);
		return -1;
	}
	return 0;
}

/*
 * Become 'username' for good (gid, then uid; the groups were set by
 * user_groups), after the sockets, keys, log and pidfile were opened as
 * root and the chroot entered, before any thread starts.  Nothing to do
 * when we already run as that user.  Returns 0 or -1 (logged).
 */
static int
user_drop(const char *username, uid_t uid, gid_t gid)
{
	if (geteuid() == uid && getegid() == gid)
		return 0;
	if (setgid(gid) != 0 || setuid(uid) != 0) {
		log_err_errno("username: %s: could not drop privileges",
		    username);
		return -1;
	}
	verbose(VERB_OPS, "running as user %s (uid %ld)", username,
	    (long)uid);
	return 0;
}

/*
 * chroot: to 'dir' (Unbound's order: after the config, keys and
 * certificates were read, the log opened and the ports bound; before
 * the privileges are dropped), then tell the daemon, whose file names
 * are from now on taken inside it.  Returns 0 or -1 (logged).
 */
static int
root_enter(struct daemon *d, const char *dir)
{
	if (chroot(dir) != 0) {
		log_err_errno("chroot: %s: could not chroot", dir);
		return -1;
	}
	if (chdir("/") != 0) {
		log_err_errno("chroot: %s: could not chdir to /", dir);
		return -1;
	}
	if (daemon_chrooted(d, dir) != 0) {
		log_err("chroot: %s: out of memory", dir);
		return -1;
	}
	verbose(VERB_OPS, "chroot to %s", dir);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cfgfile = NULL;
	char *pidfile = NULL;
	char abspath[PATH_MAX];
	int c, debug = 0, verbose_count = 0, port = 0, rc;
	bool own_pidfile = false;
	const char *username = NULL;
	char *root = NULL;
	uid_t uid = 0;
	gid_t gid = 0;
	struct daemon *d;
	char *end;
	long v;

	while ((c = getopt(argc, argv, "c:dp:vVh")) != -1) {
		switch (c) {
		case 'c':
			cfgfile = optarg;
			break;
		case 'd':
			debug++;
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 ||
			    v > 65535) {
				fprintf(stderr, "cairnd: -p %s: not a port "
				    "number (1-65535)\n", optarg);
				return 1;
			}
			port = (int)v;
			break;
		case 'v':
			verbose_count++;
			break;
		case 'V':
			print_version();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "cairnd: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}

	if (cfgfile == NULL) {
		/* no -c: the default file if it exists, else built in */
		if (access(CONFIG_DEFAULT_FILE, F_OK) == 0)
			cfgfile = CONFIG_DEFAULT_FILE;
	}
	/* an absolute name, so that a reload still finds it */
	if (cfgfile && cfgfile[0] != '/' && realpath(cfgfile, abspath))
		cfgfile = abspath;

	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "cairnd: libevent has no thread support\n");
		return 1;
	}

	d = daemon_new(cfgfile, port, verbose_count, debug);
	if (d == NULL) {
		fprintf(stderr, "cairnd: out of memory\n");
		return 1;
	}
	if (daemon_prepare(d, stderr) != 0) {
		fprintf(stderr, "cairnd: could not start, see the errors "
		    "above\n");
		daemon_free(d);
		libevent_global_shutdown();
		return 1;
	}
	if (cfgfile == NULL)
		fprintf(stderr, "cairnd: no config file %s, running on the "
		    "built-in default\n", CONFIG_DEFAULT_FILE);
	if (daemon_config(d)->username && daemon_config(d)->username[0]) {
		username = daemon_config(d)->username;
		if (user_lookup(username, &uid, &gid) != 0) {
			daemon_free(d);
			libevent_global_shutdown();
			return 1;
		}
	}
	if (daemon_config(d)->chroot && daemon_config(d)->chroot[0]) {
		const char *why = NULL;
		struct stat st;

		/* a copy: the config's strings may be replaced */
		root = strdup(daemon_config(d)->chroot);
		if (root == NULL)
			why = "out of memory";
		else if (stat(root, &st) != 0)
			why = strerror(errno);
		else if (!S_ISDIR(st.st_mode))
			why = "not a directory";
		if (why != NULL) {
			fprintf(stderr, "cairnd: chroot: %s: %s\n",
			    daemon_config(d)->chroot, why);
			free(root);
			daemon_free(d);
			libevent_global_shutdown();
			return 1;
		}
	}

	if (debug == 0 && (rc = daemonize()) < 0) {
		fprintf(stderr, "cairnd: could not fork into the background: "
		    "%s\n", strerror(-rc));
		daemon_free(d);
		return 1;
	}
	if (debug < 2) {
		const struct config *cfg = daemon_config(d);

		if (log_open("cairnd", cfg->logfile, cfg->use_syslog) < 0)
			log_err_errno("could not open the log %s",
			    cfg->logfile);
		/* a reload reopens it as 'username': make it theirs (as
		 * Unbound does), else the log stops at the first reload */
		else if (username && !cfg->use_syslog && cfg->logfile &&
		    cfg->logfile[0] && chown(cfg->logfile, uid, gid) != 0)
			log_warn("could not give the logfile %s to %s: %s",
			    cfg->logfile, username, strerror(errno));
	}
	/* the pidfile of the start stays ours until exit, reload or not */
	if (daemon_config(d)->pidfile && daemon_config(d)->pidfile[0]) {
		pidfile = strdup(daemon_config(d)->pidfile);
		own_pidfile = pidfile_write(pidfile);
	}

	if (username && user_groups(username, uid, gid) != 0) {
		rc = 1;
	} else if (root && root_enter(d, root) != 0) {
		rc = 1;
	} else if (username && user_drop(username, uid, gid) != 0) {
		rc = 1;
	} else if (daemon_start(d) != 0) {
		log_err("could not start");
		rc = 1;
	} else {
		/* the control server was started by daemon_start (it needs
		 * the main event loop); its sockets open after the fork, so
		 * its bind errors go to the log */
		rc = daemon_run(d);
	}

	daemon_free(d);
	/* written before the chroot: its name inside it (if it is) */
	if (own_pidfile && unlink(config_path_in_root(pidfile, root)) != 0)
		log_warn("could not remove pidfile %s: %s", pidfile,
		    strerror(errno));
	free(pidfile);
	free(root);
	log_info("exit status %d", rc);
	log_close();
	libevent_global_shutdown();
	return rc;
}
