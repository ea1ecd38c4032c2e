/* main.c: placeholder until the program lands. */
#include <stdio.h>
#include "version.h"
int main(void) { printf("ssm-proxy %s\n", SSMP_VERSION); return 0; }
