/*
 * webhookd: the Ordinavo Connect webhook delivery worker.
 * Reads its configuration from WEBHOOKD_* variables (see --help), runs
 * until SIGTERM or SIGINT, and exits 0 after a clean stop, 2 on invalid
 * configuration and 1 when it cannot start.
 */

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "health.h"
#include "log.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
    config_t cfg;
    char errstr[512] = "";
    engine_t *engine = NULL;
    health_t *health = NULL;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            config_print_help(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--help-markdown") == 0) {
            config_print_markdown(stdout);
            return 0;
        }
        fprintf(stderr,
                "webhookd: unknown argument \"%s\"; settings come "
                "from WEBHOOKD_* variables, see webhookd --help\n",
                argv[i]);
        return 2;
    }

    if (config_load(&cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "webhookd: invalid configuration: %s\n", errstr);
        config_free(&cfg);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "webhookd: cannot initialise libcurl\n");
        config_free(&cfg);
        return 1;
    }
    install_signals();

    health = health_start(cfg.http_addr, errstr, sizeof(errstr));
    if (health == NULL) {
        fprintf(stderr, "webhookd: %s\n", errstr);
        log_error("cannot start", "{s:s}", "error", errstr);
        goto out;
    }
    engine = engine_new(&cfg, errstr, sizeof(errstr));
    if (engine == NULL) {
        fprintf(stderr, "webhookd: %s\n", errstr);
        log_error("cannot start", "{s:s}", "error", errstr);
        goto out;
    }
    status = engine_run(engine, &stop_requested);

out:
    engine_free(engine);
    health_stop(health);
    curl_global_cleanup();
    config_free(&cfg);
    return status;
}
