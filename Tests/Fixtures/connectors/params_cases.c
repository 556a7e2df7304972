/* Prints what patchbay/params.h reads from JSON parameters, one line per case, for ParamsHeaderTests.
 * Each line: the key, the result code, and the value as hex bytes (so UTF-8 is checked exactly). */
#include <stdio.h>
#include "patchbay/params.h"

static void show(const char *json, const char *key, size_t cap) {
    char out[64];
    int result = patchbay_params_get(patchbay_cstr(json), key, out, cap);
    printf("%s %d", key, result);
    if (result == PATCHBAY_PARAM_FOUND || result == PATCHBAY_PARAM_TOO_LONG) {
        printf(" ");
        for (const unsigned char *p = (const unsigned char *)out; *p; p++) printf("%02x", *p);
    }
    printf("\n");
}

/* With a file (Tests/Fixtures/params-cases.tsv): each case's key and JSON read from it, and for each one
 * line printed: the result code, then, if found, a space and the value as hex (the file's third column). */
static int shared_cases(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); return 1; }
    char line[4096], out[4096];
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *key = line, *json = strchr(line, '\t');
        if (!json) continue;
        *json++ = 0;
        char *expected = strchr(json, '\t');
        if (expected) *expected = 0;
        int result = patchbay_params_get(patchbay_cstr(json), key, out, sizeof out);
        printf("%d", result);
        if (result == PATCHBAY_PARAM_FOUND) {
            printf(" ");
            for (const unsigned char *p = (const unsigned char *)out; *p; p++) printf("%02x", *p);
        }
        printf("\n");
    }
    fclose(file);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2) return shared_cases(argv[1]);
    const char *json = "{\"rows\": 12, \"name\": \"Z\\u00fcrich\", \"emoji\": \"\\ud83d\\ude00\", \"lone\": \"a\\ud800b\","
                       " \"nested\": {\"rows\": 1}, \"list\": [1, 2], \"flag\": true, \"long\": \"abcdefghij\"}";
    show(json, "rows", 64);
    show(json, "name", 64);
    show(json, "emoji", 64);
    show(json, "lone", 64);
    show(json, "nested", 64);
    show(json, "list", 64);
    show(json, "flag", 64);
    show(json, "long", 5);
    show(json, "missing", 64);
    show("{\"rows\": ", "rows", 64);
    show("[1]", "rows", 64);
    /* A nested object: its raw text, then its members one by one. */
    patchbay_str member;
    int found = patchbay_params_member(patchbay_cstr(json), "nested", &member);
    printf("member %d %.*s\n", found, (int)member.length, member.data);
    const char *columns = "{\"id\": \"integer\", \"n\\u00e4me\": [1, {\"x\": 2}] , \"z\":null}";
    const char *cursor = NULL;
    char key[8];
    size_t length = 0;
    patchbay_str value;
    while ((found = patchbay_json_members(patchbay_cstr(columns), &cursor, key, sizeof key, &value, &length)) == PATCHBAY_PARAM_FOUND)
        printf("members %s (%zu) = %.*s\n", key, length, (int)value.length, value.data);
    printf("members end %d\n", found);
    cursor = NULL;
    printf("members of [1] %d\n", patchbay_json_members(patchbay_cstr("[1]"), &cursor, key, sizeof key, &value, NULL));
    /* Column type words, and a string skipped fast (no escapes) and in full (an escaped quote). */
    const char *words[] = { "\"string\"", "\"timestamp\"", "\"json\"", "\"Integer\"", "7", "\"decimal" };
    for (size_t i = 0; i < 6; i++) printf("type %s %d\n", words[i], (int)patchbay_column_type_named(patchbay_cstr(words[i])));
    const char *skipped = "\"a\\\"b\",1";
    printf("skip %ld\n", (long)(patchbay_json_skip_value(skipped, skipped + strlen(skipped)) - skipped));
    return 0;
}
