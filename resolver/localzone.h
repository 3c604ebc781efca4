/* resolver/localzone.h - not written yet */
#ifndef CAIRN_RESOLVER_LOCALZONE_H
#define CAIRN_RESOLVER_LOCALZONE_H
#endif
