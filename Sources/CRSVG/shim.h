#ifndef MEMO_CRSVG_SHIM_H
#define MEMO_CRSVG_SHIM_H
// librsvg and Cairo, loaded when the first chart is rendered (dlopen) instead of linked: the two
// pull some 40 libraries (Pango, HarfBuzz, X11, ...) whose loading and symbol lookups every
// process start would pay, though only chart PNGs use them. The few types and constants used are
// declared here from their stable C ABI (librsvg 2.52+, Cairo 1.x, GLib 2.x), so no development
// headers are needed to build.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t domain; int code; char *message; } swrsvg_gerror;
typedef struct { double x, y, width, height; } swrsvg_rectangle;

typedef struct {
    void *(*handle_new_from_data)(const unsigned char *, size_t, swrsvg_gerror **);
    int (*render_document)(void *, void *, const swrsvg_rectangle *, swrsvg_gerror **);
    void (*object_unref)(void *);
    void (*error_free)(swrsvg_gerror *);
    void *(*image_surface_create)(int, int, int);
    int (*surface_status)(void *);
    const char *(*status_to_string)(int);
    void (*surface_destroy)(void *);
    void (*surface_flush)(void *);
    unsigned char *(*image_surface_get_data)(void *);
    int (*image_surface_get_stride)(void *);
    void *(*create)(void *);
    void (*destroy)(void *);
    void (*set_source_rgb)(void *, double, double, double);
    void (*paint)(void *);
} swrsvg_api;

/// The loaded functions and the outcome of loading (state 1: loaded, -1: failed, with a message).
/// Function-local statics: Swift's importer emits those of a static inline function, not
/// file-scope ones.
typedef struct { swrsvg_api api; int state; char message[512]; } swrsvg_library;

static inline swrsvg_library *swrsvg_storage(void) {
    static swrsvg_library library;
    return &library;
}

static inline void swrsvg_load_once(void) {
    swrsvg_library *l = swrsvg_storage();
    void *lib = dlopen("librsvg-2.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(l->message, sizeof l->message, "librsvg is not installed (%s)", dlerror());
        l->state = -1;
        return;
    }
#define SWRSVG_SYM(field, name) \
    if (l->state == 0 && !(*(void **)&l->api.field = dlsym(lib, name))) { \
        snprintf(l->message, sizeof l->message, "librsvg-2.so.2 has no %s", name); l->state = -1; }
    SWRSVG_SYM(handle_new_from_data, "rsvg_handle_new_from_data")
    SWRSVG_SYM(render_document, "rsvg_handle_render_document")
    SWRSVG_SYM(object_unref, "g_object_unref")
    SWRSVG_SYM(error_free, "g_error_free")
    SWRSVG_SYM(image_surface_create, "cairo_image_surface_create")
    SWRSVG_SYM(surface_status, "cairo_surface_status")
    SWRSVG_SYM(status_to_string, "cairo_status_to_string")
    SWRSVG_SYM(surface_destroy, "cairo_surface_destroy")
    SWRSVG_SYM(surface_flush, "cairo_surface_flush")
    SWRSVG_SYM(image_surface_get_data, "cairo_image_surface_get_data")
    SWRSVG_SYM(image_surface_get_stride, "cairo_image_surface_get_stride")
    SWRSVG_SYM(create, "cairo_create")
    SWRSVG_SYM(destroy, "cairo_destroy")
    SWRSVG_SYM(set_source_rgb, "cairo_set_source_rgb")
    SWRSVG_SYM(paint, "cairo_paint")
#undef SWRSVG_SYM
    if (l->state == 0) l->state = 1;
}

/// The functions, resolved once (thread-safe); NULL with a message in *error (static text) if
/// librsvg cannot be loaded. librsvg's handle also resolves Cairo's and GLib's symbols (its
/// dependencies).
static inline const swrsvg_api *swrsvg_load(const char **error) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, swrsvg_load_once);
    swrsvg_library *l = swrsvg_storage();
    if (l->state < 0) { *error = l->message; return NULL; }
    return &l->api;
}

/// Renders an SVG document (UTF-8 bytes) with librsvg on an opaque white background, scaled to
/// width x height pixels, into *pixels: `height` rows of `width` native-endian 32-bit ARGB words
/// (malloc'd; the caller frees it). Returns 0, or -1 with a message in *error (malloc'd; the
/// caller frees it).
static inline int swrsvg_render(const unsigned char *data, size_t length, int width, int height,
                                uint32_t **pixels, char **error) {
    *pixels = NULL;
    *error = NULL;
    const char *loadError = NULL;
    const swrsvg_api *r = swrsvg_load(&loadError);
    if (!r) { *error = strdup(loadError); return -1; }
    swrsvg_gerror *gerror = NULL;
    void *handle = r->handle_new_from_data(data, length, &gerror);
    if (!handle) {
        *error = strdup(gerror && gerror->message ? gerror->message : "librsvg could not read the SVG");
        if (gerror) r->error_free(gerror);
        return -1;
    }
    void *surface = r->image_surface_create(0 /* CAIRO_FORMAT_ARGB32 */, width, height);
    if (r->surface_status(surface) != 0 /* CAIRO_STATUS_SUCCESS */) {
        *error = strdup(r->status_to_string(r->surface_status(surface)));
        r->surface_destroy(surface);
        r->object_unref(handle);
        return -1;
    }
    void *cr = r->create(surface);
    r->set_source_rgb(cr, 1, 1, 1);
    r->paint(cr);
    swrsvg_rectangle viewport = {0, 0, (double)width, (double)height};
    int ok = r->render_document(handle, cr, &viewport, &gerror);
    r->destroy(cr);
    r->object_unref(handle);
    if (!ok) {
        *error = strdup(gerror && gerror->message ? gerror->message : "librsvg could not render the SVG");
        if (gerror) r->error_free(gerror);
        r->surface_destroy(surface);
        return -1;
    }
    r->surface_flush(surface);
    const unsigned char *src = r->image_surface_get_data(surface);
    int stride = r->image_surface_get_stride(surface);
    uint32_t *out = src ? malloc((size_t)width * (size_t)height * 4) : NULL;
    if (!out) {
        *error = strdup(src ? "out of memory" : "no pixel data");
        r->surface_destroy(surface);
        return -1;
    }
    for (int y = 0; y < height; y++) memcpy(out + (size_t)y * width, src + (size_t)y * stride, (size_t)width * 4);
    r->surface_destroy(surface);
    *pixels = out;
    return 0;
}
#endif
