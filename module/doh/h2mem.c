/*
 * module/doh/h2mem.c - the allocator each server nghttp2 session gets
 * (doh_h2_mem_init), so that an idle DoH connection holds little
 * resident memory.
 *
 * Why: nghttp2 (1.52) allocates, when a session is created, an outbound
 * frame buffer of 16 KiB plus a frame header and a stream hash table of
 * 4 KiB, and keeps both for the session's life.  Taken from the malloc
 * heap those pages are nearly always resident (recycled from TLS
 * handshakes and record buffers), so they cost 20 KiB of RSS on every
 * idle connection.  Here the blocks of DOH_MEM_MAP_MIN bytes or more
 * that a session allocates while it is being created get their own
 * anonymous mappings instead: the kernel supplies a page when it is
 * first written, and doh_h2_mem_trim (when the connection is quiet)
 * gives back the frame buffer's pages (its contents are dead once
 * nghttp2 has nothing to send) and every page of the other blocks that
 * is all zeros (an empty hash table: dropped, it reads as zeros again,
 * so nothing changes for nghttp2).  Every other allocation goes to
 * malloc/calloc/realloc/free unchanged.
 *
 * Nothing here reads nghttp2's structures.  The frame buffer is the
 * first mapped block of 16 KiB or more; mapped blocks are told apart
 * from heap blocks by their addresses, kept in struct doh_h2_mem_rec.
 *
 * Small heap blocks (up to DOH_MEM_POOL_BIG bytes) go, when freed, to
 * the connection's pool and serve the next allocation of their size:
 * every stream takes the same few blocks from nghttp2 (stream, outbound
 * items, header buffers) and from h2.c (stream, query and response
 * buffers), and glibc's per-thread cache holds only 7 blocks a size, so
 * a connection with many streams in flight went through malloc's slow
 * paths for most of them.  The pool's classes are malloc's own chunk
 * sizes (16 bytes apart): a request is rounded up only to the usable
 * size malloc would give it anyway, and a freed block's class is read
 * with malloc_usable_size, so blocks carry no header and a long-lived
 * block costs what it did from malloc.  The class table is allocated
 * with the first pooled block and freed when the pool is emptied (quiet
 * connection, close).  Under AddressSanitizer a pooled block is
 * poisoned until it is handed out again, and the usable bytes beyond
 * those asked for too.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "module/doh/h2mem.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)	((void)(p), (void)(n))
#define UNPOISON(p, n)	((void)(p), (void)(n))
#endif

#define FRAMEBUF_MIN	(16 * 1024)

#ifdef HAVE_MALLOC_USABLE_SIZE
#include <malloc.h>

/*
 * Class k holds blocks of at least 16 k + 8 usable bytes: what glibc's
 * malloc gives any request of 16 (k - 1) + 9 .. 16 k + 8 bytes (chunks
 * 16 bytes apart, 8 of them its own).
 */
#define NCLASS		(DOH_MEM_POOL_BIG / 16 + 1)
#define CLASS_BYTES(k)	((size_t)(k) * 16 + 8)

struct doh_h2_pool {
	void *head[NCLASS];		/* freed blocks, linked through
					   their first bytes */
	uint16_t n[NCLASS];
};

_Static_assert(DOH_MEM_POOL_MAX <= UINT16_MAX, "h2mem pool count");

static size_t
class_of(size_t size)
{
	return size <= CLASS_BYTES(1) ? 1 : (size - 8 + 15) / 16;
}

static void *
heap_alloc(struct doh_h2_mem_rec *rec, size_t size)
{
	struct doh_h2_pool *pl = rec->pool;
	size_t k;
	void *p;

	if (size > DOH_MEM_POOL_BIG || rec->creating)
		return malloc(size);	/* a new session's blocks stay */
	k = class_of(size);
	if (pl != NULL && pl->head[k] != NULL) {
		p = pl->head[k];
		UNPOISON(p, sizeof(void *));
		pl->head[k] = *(void **)p;
		pl->n[k]--;
		UNPOISON(p, size);
		return p;
	}
	return malloc(CLASS_BYTES(k));
}

static void
heap_free(struct doh_h2_mem_rec *rec, void *p)
{
	size_t u = malloc_usable_size(p), k;
	struct doh_h2_pool *pl = rec->pool;

	if (u < CLASS_BYTES(1) || u > CLASS_BYTES(NCLASS - 1)) {
		free(p);
		return;
	}
	k = (u - 8) / 16;
	if (pl == NULL) {
		pl = rec->pool = calloc(1, sizeof(*pl));
		if (pl == NULL) {
			free(p);
			return;
		}
	}
	if (pl->n[k] >= DOH_MEM_POOL_MAX) {
		free(p);
		return;
	}
	*(void **)p = pl->head[k];
	pl->head[k] = p;
	pl->n[k]++;
	POISON(p, u);
}

static void
pool_drain(struct doh_h2_mem_rec *rec)
{
	struct doh_h2_pool *pl = rec->pool;
	size_t k;

	if (pl == NULL)
		return;
	for (k = 0; k < NCLASS; k++) {
		while (pl->head[k] != NULL) {
			void *p = pl->head[k];

			UNPOISON(p, sizeof(void *));
			pl->head[k] = *(void **)p;
			UNPOISON(p, malloc_usable_size(p));
			free(p);
		}
	}
	free(pl);
	rec->pool = NULL;
}

/* A heap block grown or shrunk: in place while malloc's block holds
 * it, else moved (the old block to the pool). */
static void *
heap_realloc(struct doh_h2_mem_rec *rec, void *p, size_t size)
{
	size_t u = malloc_usable_size(p);
	void *np;

	if (size <= u && size > 0) {
		UNPOISON(p, size);
		return p;
	}
	np = heap_alloc(rec, size);
	if (np == NULL)
		return NULL;
	UNPOISON(p, u);		/* the bytes past the last request */
	memcpy(np, p, u < size ? u : size);
	heap_free(rec, p);
	return np;
}

unsigned
doh_h2_mem_pooled(const struct doh_h2_mem_rec *rec)
{
	unsigned n = 0;
	size_t k;

	if (rec->pool == NULL)
		return 0;
	for (k = 0; k < NCLASS; k++)
		n += rec->pool->n[k];
	return n;
}
#else	/* no malloc_usable_size: no pool */
static void *
heap_alloc(struct doh_h2_mem_rec *rec, size_t size)
{
	(void)rec;
	return malloc(size);
}

static void
heap_free(struct doh_h2_mem_rec *rec, void *p)
{
	(void)rec;
	free(p);
}

static void
pool_drain(struct doh_h2_mem_rec *rec)
{
	(void)rec;
}

static void *
heap_realloc(struct doh_h2_mem_rec *rec, void *p, size_t size)
{
	(void)rec;
	return realloc(p, size);
}

unsigned
doh_h2_mem_pooled(const struct doh_h2_mem_rec *rec)
{
	(void)rec;
	return 0;
}
#endif

static size_t
page_size(void)
{
	static size_t ps;

	if (ps == 0) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

static struct doh_h2_mem_blk *
blk_of(struct doh_h2_mem_rec *rec, const void *p)
{
	int i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < DOH_MEM_BLOCKS; i++)
		if (rec->blk[i].p == p)
			return &rec->blk[i];
	return NULL;
}

static void *
mem_malloc(size_t size, void *ud)
{
	struct doh_h2_mem_rec *rec = ud;
	struct doh_h2_mem_blk *b = NULL;
	int i;

	if (rec->creating && size >= DOH_MEM_MAP_MIN && size <= SIZE_MAX / 2)
		for (i = 0; i < DOH_MEM_BLOCKS && b == NULL; i++)
			if (rec->blk[i].p == NULL)
				b = &rec->blk[i];
	if (b != NULL) {
		size_t ps = page_size(), len = (size + ps - 1) / ps * ps;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m != MAP_FAILED) {
			b->p = m;
			b->len = len;
			b->size = size;
			b->framebuf = false;
			if (size >= FRAMEBUF_MIN && !rec->have_framebuf)
				b->framebuf = rec->have_framebuf = true;
			return m;
		}
		/* out of mappings (vm.max_map_count): the heap will do */
	}
	return heap_alloc(rec, size);
}

static void
mem_free(void *p, void *ud)
{
	struct doh_h2_mem_blk *b = blk_of(ud, p);

	if (p == NULL)
		return;
	if (b != NULL) {
		munmap(b->p, b->len);
		memset(b, 0, sizeof(*b));
		return;
	}
	heap_free(ud, p);
}

static void *
mem_calloc(size_t n, size_t size, void *ud)
{
	struct doh_h2_mem_rec *rec = ud;
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (rec->creating && n * size >= DOH_MEM_MAP_MIN &&
	    n * size <= SIZE_MAX / 2)
		return mem_malloc(n * size, ud);	/* mapped: zeros */
	p = heap_alloc(rec, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
	struct doh_h2_mem_blk *b;
	void *np;

	if (p == NULL)		/* how nghttp2 allocates the frame buffer */
		return mem_malloc(size, ud);
	b = blk_of(ud, p);
	if (b == NULL)
		return heap_realloc(ud, p, size);
	/* a mapped block: not done by nghttp2 1.52; kept correct */
	np = heap_alloc(ud, size);
	if (np == NULL)
		return NULL;
	memcpy(np, p, b->size < size ? b->size : size);
	mem_free(p, ud);
	return np;
}

void
doh_h2_mem_init(nghttp2_mem *mem, struct doh_h2_mem_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	mem->mem_user_data = rec;
	mem->malloc = mem_malloc;
	mem->free = mem_free;
	mem->calloc = mem_calloc;
	mem->realloc = mem_realloc;
}

static bool
page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		if (w[i] != 0)
			return false;
	return true;
}

void *
doh_h2_mem_alloc(struct doh_h2_mem_rec *rec, size_t size)
{
	return heap_alloc(rec, size);
}

void *
doh_h2_mem_zalloc(struct doh_h2_mem_rec *rec, size_t size)
{
	void *p = heap_alloc(rec, size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void
doh_h2_mem_free(struct doh_h2_mem_rec *rec, void *p)
{
	if (p != NULL)
		heap_free(rec, p);
}

void
doh_h2_mem_release(struct doh_h2_mem_rec *rec)
{
	pool_drain(rec);
}

size_t
doh_h2_mem_trim(struct doh_h2_mem_rec *rec)
{
	size_t ps = page_size(), off, dropped = 0;
	int i;

	pool_drain(rec);

	for (i = 0; i < DOH_MEM_BLOCKS; i++) {
		struct doh_h2_mem_blk *b = &rec->blk[i];

		if (b->p == NULL)
			continue;
		if (b->framebuf) {
			(void)madvise(b->p, b->len, MADV_DONTNEED);
			dropped += b->len;
			continue;
		}
		for (off = 0; off < b->len; off += ps)
			if (page_is_zero((uint8_t *)b->p + off, ps) &&
			    madvise((uint8_t *)b->p + off, ps,
			    MADV_DONTNEED) == 0)
				dropped += ps;
	}
	return dropped;
}
