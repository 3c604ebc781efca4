/* util/budget.c - not written yet */
