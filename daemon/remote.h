/*
 * daemon/remote.h - the control server inside cairnd (what cairn-control
 * talks to), and the protocol constants both sides share.
 *
 * The server listens on every control-interface of the remote-control:
 * clause: an IP address is a TCP socket on control-port, with TLS and
 * mutual certificate authentication when control-use-cert is yes (plain
 * TCP, loopback peers only, when it is no); an absolute path is a Unix
 * socket (mode 0660, no TLS).  One command per connection (see
 * doc/control-protocol.md): the client sends "CAIRNCTL1 command args\n",
 * the server writes a text reply and closes.  Everything runs on the
 * main thread's event loop (daemon_main_base); the command handlers call
 * the functions of daemon/daemon.h and the res_shared_* control functions
 * of resolver/resolver.h (flush, local zones and data, forward zones,
 * cache dump and load).  load_cache alone reads data after its request
 * line (up to an "EOF" line or the end of the stream).
 *
 * This file does not parse the config, count statistics or know DNS
 * beyond turning a name and type from text to wire for the flush
 * commands.
 */
#ifndef CAIRN_DAEMON_REMOTE_H
#define CAIRN_DAEMON_REMOTE_H

#include <stddef.h>

struct daemon;
struct remote;

/* First word of every request line; a new protocol gets a new number. */
#define REMOTE_PROTO_MAGIC	"CAIRNCTL1"
/* Longest request line, "\n" included. */
#define REMOTE_MAX_LINE		4096
/* A connection is closed this long after it was accepted, done or not. */
#define REMOTE_TIMEOUT_SEC	10
/* Control connections open at once; more wait in the listen backlog. */
#define REMOTE_MAX_CONNS	16
/* Most bytes of load_cache data after the request line. */
#define REMOTE_MAX_LOAD		(64 * 1024 * 1024)
/* Most words after the command name. */
#define REMOTE_MAX_ARGS		16

/*
 * The commands, defined once: X(name, min_args, max_args).  The server
 * builds its dispatch table from this list (handler remote_cmd_<name>),
 * cairn-control --list-commands prints it and the man page test checks
 * that doc/cairn-control.8 names every entry.
 */
#define REMOTE_COMMANDS(X) \
	X(status,		0, 0) \
	X(stats,		0, 0) \
	X(stats_noreset,	0, 0) \
	X(flush_stats,		0, 0) \
	X(reload,		0, 0) \
	X(reload_keep_cache,	0, 0) \
	X(stop,			0, 0) \
	X(verbosity,		1, 1) \
	X(flush,		1, 1) \
	X(flush_type,		2, 2) \
	X(flush_zone,		1, 1) \
	X(list_forwards,	0, 0) \
	X(list_local_zones,	0, 0) \
	X(list_local_data,	0, 0) \
	X(local_data,		1, REMOTE_MAX_ARGS) \
	X(local_data_remove,	1, 1) \
	X(local_zone,		2, 2) \
	X(local_zone_remove,	1, 1) \
	X(forward_add,		2, REMOTE_MAX_ARGS) \
	X(forward_remove,	1, 1) \
	X(dump_cache,		0, 0) \
	X(load_cache,		0, 0)

/*
 * Open the control listeners of the config in force (daemon_config(d))
 * on daemon_main_base(d).  Returns the control server, or NULL with the
 * reason in 'err' (a socket that cannot be opened, a key or certificate
 * that cannot be loaded).  When control-enable is no, returns an empty
 * server that listens nowhere (remote_stop still frees it).
 * The caller owns the result and frees it with remote_stop.
 */
struct remote *remote_start(struct daemon *d, char *err, size_t errlen);

/*
 * Close the listeners (removing Unix socket files it made) and every
 * open control connection, after one last non-blocking attempt to send
 * a reply that is ready (so "stop" and "reload" still answer "ok" when
 * the daemon stops or restarts the control server right after them).
 * NULL is allowed.
 */
void remote_stop(struct remote *rc);

#endif
