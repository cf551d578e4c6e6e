#ifndef MEMO_CRSVG_SHIM_H
#define MEMO_CRSVG_SHIM_H
#include <librsvg/rsvg.h>
#include <cairo.h>
/// Renders an SVG document (UTF-8 bytes) with librsvg into a new Cairo ARGB32 surface of
/// width x height pixels on an opaque white background, the document scaled to fill it.
/// Returns 0 and the surface in *out (the caller destroys it), or -1 with a message in
/// *error (the caller frees it with g_free). Kept in C so no GLib macro or GError handling
/// has to cross into Swift.
static inline int swrsvg_render(const unsigned char *data, size_t length, int width, int height,
                                cairo_surface_t **out, char **error) {
    *out = NULL;
    *error = NULL;
    GError *gerror = NULL;
    RsvgHandle *handle = rsvg_handle_new_from_data(data, length, &gerror);
    if (!handle) {
        *error = g_strdup(gerror ? gerror->message : "librsvg could not read the SVG");
        if (gerror) g_error_free(gerror);
        return -1;
    }
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        *error = g_strdup(cairo_status_to_string(cairo_surface_status(surface)));
        cairo_surface_destroy(surface);
        g_object_unref(handle);
        return -1;
    }
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    RsvgRectangle viewport = {0, 0, (double)width, (double)height};
    gboolean ok = rsvg_handle_render_document(handle, cr, &viewport, &gerror);
    cairo_destroy(cr);
    g_object_unref(handle);
    if (!ok) {
        *error = g_strdup(gerror ? gerror->message : "librsvg could not render the SVG");
        if (gerror) g_error_free(gerror);
        cairo_surface_destroy(surface);
        return -1;
    }
    cairo_surface_flush(surface);
    *out = surface;
    return 0;
}
#endif
