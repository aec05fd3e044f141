/* client.c: to be written */
