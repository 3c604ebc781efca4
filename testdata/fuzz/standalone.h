/*
 * testdata/fuzz/standalone.h - the main() of a fuzz target built without
 * libFuzzer (-DFUZZ_STANDALONE, the replay_<what> programs of make
 * check): runs LLVMFuzzerTestOneInput once on each file named, read up
 * to FUZZ_INPUT_MAX bytes.  Include it at the end of the target.
 */
#ifdef FUZZ_STANDALONE
#include <stdio.h>

#ifndef FUZZ_INPUT_MAX
#define FUZZ_INPUT_MAX 65536
#endif

int
main(int argc, char **argv)
{
	static uint8_t buf[FUZZ_INPUT_MAX];
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t n;

		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
