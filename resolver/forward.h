/* resolver/forward.h - not written yet */
#ifndef CAIRN_RESOLVER_FORWARD_H
#define CAIRN_RESOLVER_FORWARD_H
#endif
