/* daemon/worker.c - not written yet */
