/* daemon/worker.h - not written yet */
#ifndef CAIRN_DAEMON_WORKER_H
#define CAIRN_DAEMON_WORKER_H
#endif
