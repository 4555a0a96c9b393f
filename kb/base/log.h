/* kb/log.h: one line per event. On a terminal: "LEVEL message"; otherwise one JSON object per
 * line ({"ts":..,"level":..,"msg":..}) built with jansson.
 * Messages are lowercase, carry no secrets or personal data; user strings are escaped. */
#ifndef KB_LOG_H
#define KB_LOG_H

enum kb_log_level { KB_LOG_DEBUG, KB_LOG_INFO, KB_LOG_WARN, KB_LOG_ERROR };

/* Minimum level printed (default INFO); set from --verbose / KB_LOG_LEVEL. */
void kb_log_set_level(enum kb_log_level level);
/* Force JSON (1), plain (0) or auto-detect from stderr being a terminal (-1, default). */
void kb_log_set_json(int json);
void kb_log(enum kb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
