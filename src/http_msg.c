/* http_msg.c: to be written */
