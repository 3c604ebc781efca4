/* module/doh/request.h - not written yet */
#ifndef CAIRN_MODULE_DOH_REQUEST_H
#define CAIRN_MODULE_DOH_REQUEST_H
#endif
