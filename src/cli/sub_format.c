/*
 * midge sub: printing a message (see sub_format.h), as mosquitto_sub
 * 2.0.11 prints it: the same bytes for the same message and options, so
 * that a script reading mosquitto_sub's output reads ours.
 *
 * One deliberate difference: with a field width, %x and %X print every
 * byte that fits the width; mosquitto_sub prints only half of a payload
 * shorter than the width (%10x of "xyz" is "        78"), a bug.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sub_format.h"

/* Every conversion mosquitto_sub 2.0.11 accepts after '%', MQTT 5 ones
 * included, and every escape after '\'. */
#define FORMAT_CONVERSIONS "%ACDEFIlmPpqRSrtjJUxX"
#define FORMAT_ESCAPES "\\0aenrtv"

/* One conversion's flags, width and precision. */
struct spec {
    bool left;     /* '-' */
    char pad;      /* ' ' or '0' */
    int width;     /* 0 = none */
    int precision; /* -1 = none */
};

/* The moment a message is printed, for %I %U %j %J and @. */
struct stamp {
    struct timespec ts;
    struct tm tm;
};

bool sub_format_check(const char *f, char *why, size_t cap)
{
    size_t n = strlen(f);

    for (size_t i = 0; i < n; i++) {
        if (f[i] == '%') {
            size_t j = i + 1;
            if (j < n && (f[j] == '0' || f[j] == '-'))
                j++;
            while (j < n && f[j] >= '0' && f[j] <= '9')
                j++;
            if (j < n && f[j] == '.') {
                j++;
                while (j < n && f[j] >= '0' && f[j] <= '9')
                    j++;
            }
            if (j >= n) {
                snprintf(why, cap, "incomplete format specifier at the end");
                return false;
            }
            if (strchr(FORMAT_CONVERSIONS, f[j]) == NULL) {
                snprintf(why, cap, "invalid format specifier '%c'", f[j]);
                return false;
            }
            i = j;
        } else if (f[i] == '@' || f[i] == '\\') {
            if (i + 1 >= n) {
                snprintf(why, cap, "incomplete %s specifier at the end",
                         f[i] == '@' ? "format" : "escape");
                return false;
            }
            if (f[i] == '\\' && strchr(FORMAT_ESCAPES, f[i + 1]) == NULL) {
                snprintf(why, cap, "invalid escape specifier '%c'", f[i + 1]);
                return false;
            }
            i++;
        }
    }
    return true;
}

static void put_pad(FILE *out, char c, int n)
{
    for (int i = 0; i < n; i++)
        fputc(c, out);
}

/* printf's %*.*s over a string of known length; strings never take '0'. */
static void put_str(FILE *out, const struct spec *sp, const char *s, size_t len)
{
    if (sp->precision >= 0 && (size_t)sp->precision < len)
        len = (size_t)sp->precision;
    int pad = sp->width > (int)len ? sp->width - (int)len : 0;
    if (!sp->left)
        put_pad(out, ' ', pad);
    fwrite(s, 1, len, out);
    if (sp->left)
        put_pad(out, ' ', pad);
}

static void put_int(FILE *out, const struct spec *sp, long v)
{
    if (sp->left)
        fprintf(out, "%-*ld", sp->width, v);
    else if (sp->pad == '0')
        fprintf(out, "%0*ld", sp->width, v);
    else
        fprintf(out, "%*ld", sp->width, v);
}

/* %p, %x, %X: a width also cuts the payload to what fits (mosquitto_sub's
 * rule), two characters a byte in hex. */
static void put_payload(FILE *out, const struct spec *sp, const midge_publish *m, int hex)
{
    size_t n = m->payload_len;
    size_t per = hex ? 2 : 1;
    int pad = 0;

    if (sp->width > 0) {
        if (n > (size_t)sp->width / per)
            n = (size_t)sp->width / per;
        pad = sp->width - (int)(n * per);
    }
    if (!sp->left)
        put_pad(out, sp->pad, pad);
    if (hex == 0)
        fwrite(m->payload, 1, n, out);
    for (size_t i = 0; hex != 0 && i < n; i++)
        fprintf(out, hex == 1 ? "%02x" : "%02X", m->payload[i]);
    if (sp->left)
        put_pad(out, ' ', pad);
}

/* The stamp of %j and %J: local time with microseconds, then "Z", then
 * the UTC offset ("2026-12-06T19:24:04.516014Z+0000"): mosquitto's text,
 * odd "Z" included. */
static void put_json_time(char **b, size_t *len, size_t *cap, const struct stamp *t)
{
    char when[80];
    char zone[16];
    char line[128];

    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &t->tm);
    strftime(zone, sizeof zone, "%z", &t->tm);
    snprintf(line, sizeof line, "\"%s.%06ldZ%s\"", when, t->ts.tv_nsec / 1000, zone);
    sub_json_put_raw(b, len, cap, line);
}

/* %j and %J: the message as one JSON object, built whole before any of it
 * is printed (a %J payload that is not JSON prints nothing). */
static bool put_json(FILE *out, const struct sub_print *p, const midge_publish *m,
                     const struct stamp *t, bool raw)
{
    const char *sep = p->pretty ? ",\n\t" : ",";
    const char *colon = p->pretty ? ":\t" : ":";
    char *b = NULL;
    size_t len = 0;
    size_t cap = 0;
    char num[96];
    bool ok = true;

    sub_json_put_raw(&b, &len, &cap, p->pretty ? "{\n\t\"tst\"" : "{\"tst\"");
    sub_json_put_raw(&b, &len, &cap, colon);
    put_json_time(&b, &len, &cap, t);
    snprintf(num, sizeof num, "%s\"topic\"%s\"", sep, colon);
    sub_json_put_raw(&b, &len, &cap, num);
    sub_json_put_string(&b, &len, &cap, (const uint8_t *)m->topic, m->topic_len);
    snprintf(num, sizeof num, "\"%s\"qos\"%s%u%s\"retain\"%s%d%s\"payloadlen\"%s%zu", sep, colon,
             (unsigned)m->qos, sep, colon, m->retain ? 1 : 0, sep, colon, m->payload_len);
    sub_json_put_raw(&b, &len, &cap, num);
    if (m->qos > 0) {
        snprintf(num, sizeof num, "%s\"mid\"%s%u", sep, colon, (unsigned)m->packet_id);
        sub_json_put_raw(&b, &len, &cap, num);
    }
    snprintf(num, sizeof num, "%s\"payload\"%s", sep, colon);
    sub_json_put_raw(&b, &len, &cap, num);
    if (m->payload_len == 0) {
        sub_json_put_raw(&b, &len, &cap, "null");
    } else if (raw) {
        ok = sub_json_reprint(&b, &len, &cap, m->payload, m->payload_len, p->pretty, 1);
    } else {
        sub_json_put_raw(&b, &len, &cap, "\"");
        sub_json_put_string(&b, &len, &cap, m->payload, m->payload_len);
        sub_json_put_raw(&b, &len, &cap, "\"");
    }
    sub_json_put_raw(&b, &len, &cap, p->pretty ? "\n}" : "}");
    if (ok && b != NULL)
        fwrite(b, 1, len, out);
    free(b);
    return ok;
}

static void put_time(FILE *out, const struct spec *sp, const struct stamp *t, char what)
{
    char buf[100];

    if (what == 'U') {
        fprintf(out, "%lld.%09ld", (long long)t->ts.tv_sec, t->ts.tv_nsec);
        return;
    }
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &t->tm);
    if (n > 0)
        put_str(out, sp, buf, n);
    else
        put_pad(out, ' ', sp->width);
}

static void put_conversion(FILE *out, const struct sub_print *p, const midge_publish *m,
                           const struct stamp *t, const struct spec *sp, char c)
{
    switch (c) {
    case '%': fputc('%', out); break;
    case 't': put_str(out, sp, m->topic, m->topic_len); break;
    case 'p': put_payload(out, sp, m, 0); break;
    case 'x': put_payload(out, sp, m, 1); break;
    case 'X': put_payload(out, sp, m, 2); break;
    case 'q': fputc('0' + m->qos, out); break;
    case 'r': fputc(m->retain ? '1' : '0', out); break;
    case 'l': put_int(out, sp, (long)m->payload_len); break;
    case 'm': put_int(out, sp, (long)m->packet_id); break;
    case 'I':
    case 'U': put_time(out, sp, t, c); break;
    case 'j':
    case 'J':
        if (!put_json(out, p, m, t, c == 'J'))
            cli_error(p->prog, "message payload is not valid JSON on topic %.*s",
                      (int)m->topic_len, m->topic);
        break;
    /* MQTT 5 properties, never on a 3.1.1 connection: blank as absent. */
    case 'A':
    case 'E':
    case 'F':
    case 'S': put_pad(out, sp->pad, sp->width); break;
    case 'C': put_pad(out, ' ', sp->width); break;
    }
}

/* "%-08.3t" from f[*i] (just after the '%'): the spec, *i at the letter. */
static void read_spec(const char *f, size_t *i, struct spec *sp)
{
    *sp = (struct spec){ .left = false, .pad = ' ', .width = 0, .precision = -1 };
    if (f[*i] == '-') {
        sp->left = true;
        (*i)++;
    }
    if (f[*i] == '0') {
        sp->pad = '0';
        (*i)++;
    }
    for (; f[*i] >= '0' && f[*i] <= '9'; (*i)++)
        sp->width = sp->width * 10 + (f[*i] - '0');
    if (f[*i] == '.') {
        sp->precision = 0;
        for ((*i)++; f[*i] >= '0' && f[*i] <= '9'; (*i)++)
            sp->precision = sp->precision * 10 + (f[*i] - '0');
    }
}

static void put_escape(FILE *out, char c)
{
    static const char from[] = FORMAT_ESCAPES;
    static const char to[] = "\\\0\a\033\n\r\t\v";
    const char *k = strchr(from, c);

    if (k != NULL && c != '\0')
        fputc(to[k - from], out);
}

/* -F: the format was checked when it was given (sub_format_check). */
static void put_formatted(FILE *out, const struct sub_print *p, const midge_publish *m,
                          const struct stamp *t)
{
    const char *f = p->format;
    char strf[3] = { '%', 0, 0 };
    char buf[100];
    struct spec sp;

    for (size_t i = 0; f[i] != '\0'; i++) {
        if (f[i] == '%' && f[i + 1] != '\0') {
            i++;
            read_spec(f, &i, &sp);
            if (f[i] == '\0')
                break;
            put_conversion(out, p, m, t, &sp, f[i]);
        } else if (f[i] == '@' && f[i + 1] != '\0') {
            i++;
            strf[1] = f[i];
            if (f[i] == '@')
                fputc('@', out);
            else if (f[i] == 'N')
                fprintf(out, "%09ld", t->ts.tv_nsec);
            else if (strftime(buf, sizeof buf, strf, &t->tm) > 0)
                fputs(buf, out);
        } else if (f[i] == '\\' && f[i + 1] != '\0') {
            put_escape(out, f[++i]);
        } else {
            fputc(f[i], out);
        }
    }
}

void sub_print_message(FILE *out, const struct sub_print *p, const midge_publish *m)
{
    struct stamp t;

    if (p->format != NULL) {
        clock_gettime(CLOCK_REALTIME, &t.ts);
        localtime_r(&t.ts.tv_sec, &t.tm);
        put_formatted(out, p, m, &t);
        if (p->eol)
            fputc('\n', out);
    } else if (m->payload_len > 0) {
        /* An empty payload prints nothing, or "topic (null)" with -v. */
        if (p->verbose) {
            fwrite(m->topic, 1, m->topic_len, out);
            fputc(' ', out);
        }
        fwrite(m->payload, 1, m->payload_len, out);
        if (p->eol)
            fputc('\n', out);
    } else if (p->verbose && p->eol) {
        fwrite(m->topic, 1, m->topic_len, out);
        fputs(" (null)\n", out);
    }
    fflush(out);
}
