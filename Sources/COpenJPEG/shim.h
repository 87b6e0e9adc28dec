/* OpenJPEG 2.5 (libopenjp2-7-dev): JPEG 2000 and HTJ2K decoding from memory.
 * The memory stream and the error capture need C callbacks; they live here so
 * Swift sees one call. */
#include <openjpeg.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    OPJ_SIZE_T size;
    OPJ_SIZE_T position;
} discport_opj_buffer;

static OPJ_SIZE_T discport_opj_read(void *out, OPJ_SIZE_T count, void *user) {
    discport_opj_buffer *b = (discport_opj_buffer *)user;
    if (b->position >= b->size) return (OPJ_SIZE_T)-1;
    OPJ_SIZE_T n = b->size - b->position;
    if (n > count) n = count;
    memcpy(out, b->data + b->position, n);
    b->position += n;
    return n;
}

static OPJ_OFF_T discport_opj_skip(OPJ_OFF_T count, void *user) {
    discport_opj_buffer *b = (discport_opj_buffer *)user;
    if (count < 0) {
        if ((OPJ_SIZE_T)(-count) > b->position) count = -(OPJ_OFF_T)b->position;
    } else if (b->position + (OPJ_SIZE_T)count > b->size) {
        count = (OPJ_OFF_T)(b->size - b->position);
    }
    b->position += count;
    return count;
}

static OPJ_BOOL discport_opj_seek(OPJ_OFF_T offset, void *user) {
    discport_opj_buffer *b = (discport_opj_buffer *)user;
    if (offset < 0 || (OPJ_SIZE_T)offset > b->size) return OPJ_FALSE;
    b->position = (OPJ_SIZE_T)offset;
    return OPJ_TRUE;
}

/* Keeps the first error message (256 bytes). */
static void discport_opj_error(const char *message, void *user) {
    char *text = (char *)user;
    if (text[0] == 0) { strncpy(text, message, 255); text[255] = 0; }
}

/* Decodes a J2K codestream (or a JP2 file) held in memory. Returns the image
 * (free it with opj_image_destroy) or NULL with the reason in `message`
 * (at least 256 bytes). */
static inline opj_image_t *discport_opj_decode(const unsigned char *data, size_t size, char *message) {
    static const unsigned char jp2[] = {0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20};
    OPJ_CODEC_FORMAT format = (size >= 12 && memcmp(data, jp2, 8) == 0) ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K;
    message[0] = 0;
    opj_codec_t *codec = opj_create_decompress(format);
    if (!codec) { strcpy(message, "cannot create an OpenJPEG decoder"); return NULL; }
    opj_set_error_handler(codec, discport_opj_error, message);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    if (!opj_setup_decoder(codec, &parameters)) {
        opj_destroy_codec(codec);
        if (!message[0]) strcpy(message, "OpenJPEG decoder setup failed");
        return NULL;
    }
    opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
    discport_opj_buffer buffer = { data, size, 0 };
    opj_stream_set_user_data(stream, &buffer, NULL);
    opj_stream_set_user_data_length(stream, size);
    opj_stream_set_read_function(stream, discport_opj_read);
    opj_stream_set_skip_function(stream, discport_opj_skip);
    opj_stream_set_seek_function(stream, discport_opj_seek);
    opj_image_t *image = NULL;
    OPJ_BOOL ok = opj_read_header(stream, codec, &image)
        && opj_decode(codec, stream, image)
        && opj_end_decompress(codec, stream);
    opj_stream_destroy(stream);
    opj_destroy_codec(codec);
    if (!ok) {
        if (image) opj_image_destroy(image);
        if (!message[0]) strcpy(message, "the JPEG 2000 codestream does not decode");
        return NULL;
    }
    return image;
}
