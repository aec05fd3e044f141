/* upool.c: to be written */
