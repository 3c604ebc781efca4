/* daemon/stats.h - not written yet */
#ifndef CAIRN_DAEMON_STATS_H
#define CAIRN_DAEMON_STATS_H
#endif
