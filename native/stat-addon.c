/*
 * strata-stat.node: strata-stat's lstats (stat-core.h) inside the Node
 * process, as a Node-API module.
 *
 *   statPaths(root: string, paths: Uint8Array) -> Buffer
 *
 * paths: NUL-ended paths relative to root, back to back; the Buffer holds
 * one 40-byte record per path, as strata-stat writes them. A no-change
 * `strata build` checks every entry of its context before it answers:
 * starting the helper process for that cost some 15 ms of a 105 ms run
 * (child_process, a fork and an exec), and lstat-ing from JavaScript in a
 * process this young some 10 us an entry. Built against Node-API's headers
 * only (node-api-headers), so any Node >= 20 loads it.
 */
#include <limits.h>
#include <stdlib.h>
#include <node_api.h>
#include "stat-core.h"

static napi_value fail(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value stat_paths(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "statPaths(root, paths)");
  char root[PATH_MAX];
  size_t root_len;
  if (napi_get_value_string_utf8(env, argv[0], root, sizeof root, &root_len) != napi_ok || root_len >= sizeof root - 1) return fail(env, "root: a string");
  napi_typedarray_type type;
  size_t len;
  void *data;
  if (napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return fail(env, "paths: a Uint8Array");
  int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return fail(env, strerror(errno));
  /* A copy: the paths are split in place, and the array's memory is not this function's to change. */
  char *in = malloc(len ? len : 1);
  size_t count = count_paths(data, len);
  char **paths = malloc((count ? count : 1) * sizeof *paths);
  napi_value result;
  void *out;
  if (!in || !paths || napi_create_buffer(env, count * sizeof(struct record), &out, &result) != napi_ok) {
    free(in);
    free(paths);
    close(dir);
    return fail(env, "out of memory");
  }
  memcpy(in, data, len);
  split_paths(in, len, paths);
  stat_all(dir, paths, count, out);
  free(in);
  free(paths);
  close(dir);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "statPaths", NAPI_AUTO_LENGTH, stat_paths, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "statPaths", fn) != napi_ok) return NULL;
  return exports;
}
