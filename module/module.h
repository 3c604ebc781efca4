/*
 * module/module.h - what a protocol module (plain DNS, DoT, DoH) gets
 * from its worker: the env pointer given to comm_listen_* and returned
 * by comm_conn_env().
 */
#ifndef CAIRN_MODULE_MODULE_H
#define CAIRN_MODULE_MODULE_H

struct config;
struct resolver;
struct stats;
struct doh_shared;

struct module_env {
	const struct config *cfg;
	struct resolver *res;		/* this worker's resolver */
	struct stats *stats;		/* this worker's counters */
	struct doh_shared *doh;		/* shared DoH limits; NULL if none */
	int worker;			/* worker index, for logs */
};

#endif
