/*
 * module/doh/h2mem.h - the nghttp2 allocator of server sessions (h2mem.c):
 * the large blocks of a new session (nghttp2's 16 KiB frame buffer, its
 * 4 KiB stream table) in their own anonymous mappings, given back by
 * doh_h2_mem_trim while the connection is quiet; everything else from
 * malloc.  It does not count
 * or limit memory (the DoH budgets do that for query and response
 * buffers).
 */
#ifndef CAIRN_MODULE_DOH_H2MEM_H
#define CAIRN_MODULE_DOH_H2MEM_H

#include <stdbool.h>
#include <nghttp2/nghttp2.h>

/* Blocks this large or larger allocated while the session is being
 * created are mapped (nghttp2 1.52: the frame buffer, the stream table). */
#define DOH_MEM_MAP_MIN		4096
#define DOH_MEM_BLOCKS		4	/* at most this many mapped */

struct doh_h2_mem_blk {
	void *p;		/* the mapping, NULL = slot free */
	size_t len;		/* its length */
	size_t size;		/* the bytes asked for */
	bool framebuf;		/* nghttp2's frame buffer */
};

/* One per session: its mapped blocks. */
struct doh_h2_mem_rec {
	struct doh_h2_mem_blk blk[DOH_MEM_BLOCKS];
	bool have_framebuf;
	bool creating;		/* set around nghttp2_session_*_new3 */
};

/*
 * Fill 'mem' (handed to nghttp2_session_server_new3, which copies it)
 * with this allocator, recording into 'rec' (zeroed here; it must live
 * as long as the session).
 */
void doh_h2_mem_init(nghttp2_mem *mem, struct doh_h2_mem_rec *rec);

/*
 * Give back the frame buffer's pages, and the pages of the other mapped
 * blocks that are all zeros: they read as zeros afterwards and cost
 * nothing until written again.  Only when nghttp2 has nothing left to
 * send (nghttp2_session_want_write() is 0), so the frame buffer's
 * contents are dead.  Returns the bytes given back.
 */
size_t doh_h2_mem_trim(struct doh_h2_mem_rec *rec);

#endif
