/* The first-party HTTP connectors' JSON path readers (Plugins/common/http_client.h), one case a line:
 * pb_json_start_at (where a value starts, the value itself never crossed) beside pb_json_at and pb_json_text_at. */
#include "../../../Plugins/common/http_client.h"

static void start(const char *doc, const char *path) {
    patchbay_str text = patchbay_cstr(doc);
    const char *at = pb_json_start_at(text, path);
    if (at) printf("start %s %ld\n", path[0] ? path : "(document)", (long)(at - doc));
    else printf("start %s absent\n", path[0] ? path : "(document)");
}

int main(void) {
    const char *page = "{\"data\": {\"items\": [{\"id\": 1}, {\"id\": 2}]}, \"meta\": {\"total\": 2}}";
    start(page, "data.items");   /* 19: the '[' */
    start(page, "data");         /* 9: the '{' */
    start(page, "");             /* 0 */
    start(page, "meta.total");   /* 62 */
    start(page, "data.nope");
    start(page, "data.items.id");  /* an array has no members */
    start("{\"x\": {\"items\": [0]}, \"items\": [9]}", "items");  /* 31: a key inside another value is not a member */
    start("{\"items\": [{\"id\": 1}, {\"id\"", "items");         /* 10: a value cut short is not crossed, so not judged */
    start("{\"a\" 1, \"items\": []}", "items");                 /* malformed on the way */
    start("{\"a\": [1, , \"items\": []}", "items");             /* a value on the way that is not JSON */
    start("{\"it\\u0065ms\": [1]}", "items");                    /* 15: keys are compared unescaped */
    start("{\"items\": [1], \"items\": [2]}", "items");          /* 10: the first of two equal keys, as pb_json_at */
    char total[32];
    printf("text meta.total %d %s\n", pb_json_text_at(patchbay_cstr(page), "meta.total", total, sizeof total), total);
    return 0;
}
