/* comm/comm_int.h - not written yet */
#ifndef CAIRN_COMM_COMM_INT_H
#define CAIRN_COMM_COMM_INT_H
#endif
