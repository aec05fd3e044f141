/* http_parse.c: to be written */
