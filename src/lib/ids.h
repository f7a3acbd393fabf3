/* ids: random identifiers (UUID4 task ids and delivery tags) from the
 * kernel's getrandom, which needs no /dev in a scratch container. */
#ifndef TRYON_IDS_H
#define TRYON_IDS_H

/* Write a lowercase UUID4 string (36 chars + NUL) into out. 0 or -1. */
int ids_uuid4(char out[37]);
#endif
