#include <stdio.h>
#include <stdlib.h>
#include "buffer.h"

#define DEFAULT_CAPACITY 16
typedef struct Buffer {
    char *data;
    size_t len;
    size_t cap;
} Buffer;

enum Status { STATUS_OK, STATUS_NOMEM };

union Value {
    int i;
    double d;
} last_value;

static int grow(Buffer *buf, size_t need);

Buffer *buffer_new(void) {
    Buffer *buf = malloc(sizeof(Buffer));
    buf->data = malloc(DEFAULT_CAPACITY);
    buf->len = 0;
    buf->cap = DEFAULT_CAPACITY;
    return buf;
}

static int grow(Buffer *buf, size_t need) {
    size_t cap = buf->cap;
    while (cap < need) {
        cap *= 2;
    }
    char *data = realloc(buf->data, cap);
    if (data == NULL) {
        return STATUS_NOMEM;
    }
    buf->data = data;
    buf->cap = cap;
    return STATUS_OK;
}

enum Status buffer_append(Buffer *buf, const char *text, size_t n) {
    if (grow(buf, buf->len + n) != STATUS_OK) {
        return STATUS_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        buf->data[buf->len++] = text[i];
    }
    return STATUS_OK;
}

int main(void) {
    Buffer *buf = buffer_new();
    buffer_append(buf, "hello", 5);
    printf("%zu\n", buf->len);
    free(buf->data);
    free(buf);
    return 0;
}

int sig_demo(int a /* sigcomment */, int b) // sigcomment
{
    return a + b;
}
