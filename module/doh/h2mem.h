/*
 * module/doh/h2mem.h - the nghttp2 allocator of server sessions (h2mem.c):
 * the large blocks of a new session (nghttp2's 16 KiB frame buffer, its
 * 4 KiB stream table) in their own anonymous mappings, given back by
 * doh_h2_mem_trim while the connection is quiet; small blocks (up to
 * DOH_MEM_POOL_BIG bytes) kept when freed, up to DOH_MEM_POOL_MAX of a
 * size class, for the connection's next streams, so that a busy
 * connection's requests take no malloc (h2.c takes its streams and
 * buffers from the same pool); everything else from malloc.  It does
 * not count or limit memory (the DoH budgets do that for query and
 * response buffers).
 */
#ifndef CAIRN_MODULE_DOH_H2MEM_H
#define CAIRN_MODULE_DOH_H2MEM_H

#include <stdbool.h>
#include <nghttp2/nghttp2.h>

/* Blocks this large or larger allocated while the session is being
 * created are mapped (nghttp2 1.52: the frame buffer, the stream table). */
#define DOH_MEM_MAP_MIN		4096
#define DOH_MEM_BLOCKS		4	/* at most this many mapped */

/*
 * Freed blocks of up to this size are kept, by malloc's size classes
 * (16 bytes apart), at most DOH_MEM_POOL_MAX a class: a pool never holds
 * more blocks than its connection had in use at once (with 100 streams
 * in flight nghttp2 has about 300 blocks of 129-256 bytes), and it is
 * emptied when the connection goes quiet and when it closes.  Without
 * malloc_usable_size there is no pool.
 */
#define DOH_MEM_POOL_BIG	1024
#define DOH_MEM_POOL_MAX	512

struct doh_h2_pool;

struct doh_h2_mem_blk {
	void *p;		/* the mapping, NULL = slot free */
	size_t len;		/* its length */
	size_t size;		/* the bytes asked for */
	bool framebuf;		/* nghttp2's frame buffer */
};

/* One per session: its mapped blocks and its pool of freed blocks. */
struct doh_h2_mem_rec {
	struct doh_h2_mem_blk blk[DOH_MEM_BLOCKS];
	struct doh_h2_pool *pool;	/* freed blocks; NULL when empty */
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
 * Free the pooled blocks, give back the frame buffer's pages, and the
 * pages of the other mapped blocks that are all zeros: they read as
 * zeros afterwards and cost nothing until written again.  Only when
 * nghttp2 has nothing left to send (nghttp2_session_want_write() is 0),
 * so the frame buffer's contents are dead.  Returns the bytes of mapped
 * pages given back.
 */
size_t doh_h2_mem_trim(struct doh_h2_mem_rec *rec);

/* The same allocator for the module's own blocks of this connection
 * (streams, query and response buffers): NULL when memory is short. */
void *doh_h2_mem_alloc(struct doh_h2_mem_rec *rec, size_t size);
void *doh_h2_mem_zalloc(struct doh_h2_mem_rec *rec, size_t size);
void doh_h2_mem_free(struct doh_h2_mem_rec *rec, void *p);

/* Free the pooled blocks; after nghttp2_session_del and the module's
 * last doh_h2_mem_free of the connection. */
void doh_h2_mem_release(struct doh_h2_mem_rec *rec);

/* How many blocks the pool holds (tests). */
unsigned doh_h2_mem_pooled(const struct doh_h2_mem_rec *rec);

#endif
