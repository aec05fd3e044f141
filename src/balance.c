/* balance.c: to be written */
