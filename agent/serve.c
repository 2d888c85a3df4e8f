// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include "agent.h"

int nb_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	nb_err("serve is not built yet");
	return NB_EXIT_ERR;
}
