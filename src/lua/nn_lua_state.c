/* nn_lua_state: reads back the values lua/nn/util.lua's serialize writes (training state in
 * checkpoints, sweep results in <member>.result files). A strict parser, not load(): a state file
 * is data, so one holding a function call, `os.exit()` or `while true do end` is an error naming
 * the byte where it stops being data, never code that runs.
 *
 * The grammar is what serialize writes, with spaces allowed between tokens:
 *   value  = number | string | true | false | (0/0) | (1/0) | (-1/0) | table
 *   table  = "{" [ field { "," field } ] "}"
 *   field  = "[" key "]" "=" value           key: a number (not NaN), string or boolean
 *   number = a decimal numeral as %d or %.17g writes it ("-12", "0.10000000000000001", "1e+300")
 *   string = "..." with the escapes %q writes (\\ \" \<newline> \r \0 \ddd) and Lua's others
 *            (\a \b \f \n \t \v \xXX)
 * Byte offsets in messages count from 0. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn_lua.h"

#define MAX_DEPTH 100 /* tables inside tables; serialize's output nests a handful deep */

typedef struct reader {
  lua_State *L;
  const char *s;
  size_t n, at;
  int depth;
} reader;

static int fail(reader *r, const char *what) {
  char found[32] = "the end"; /* lua_pushfstring has no %X: format the byte here */
  if (r->at < r->n) {
    unsigned char c = (unsigned char)r->s[r->at];
    snprintf(found, sizeof found, c >= 0x20 && c < 0x7f ? "'%c'" : "byte 0x%02X", c);
  }
  return luaL_error(r->L, "damaged training state: byte %I: %s, found %s", (lua_Integer)r->at, what, found);
}

static void skip_space(reader *r) {
  while (r->at < r->n && strchr(" \t\r\n", r->s[r->at]) && r->s[r->at]) r->at++;
}

/* Consumes `word` if the input continues with it. */
static int accept(reader *r, const char *word) {
  size_t len = strlen(word);
  if (r->n - r->at < len || memcmp(r->s + r->at, word, len) != 0) return 0;
  r->at += len;
  return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void read_number(reader *r) {
  size_t start = r->at;
  if (r->s[r->at] == '-') r->at++;
  if (r->at >= r->n || !is_digit(r->s[r->at])) fail(r, "expected a digit");
  while (r->at < r->n && (is_digit(r->s[r->at]) || strchr(".eE+-", r->s[r->at])) && r->s[r->at]) r->at++;
  char text[64];
  size_t len = r->at - start;
  if (len >= sizeof text) {
    r->at = start;
    fail(r, "expected a number of at most 63 characters");
  }
  memcpy(text, r->s + start, len);
  text[len] = 0;
  if (lua_stringtonumber(r->L, text) != len + 1) {
    r->at = start;
    fail(r, "expected a number");
  }
}

static int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void read_string(reader *r) {
  luaL_Buffer b;
  luaL_buffinit(r->L, &b);
  r->at++; /* the opening quote */
  for (;;) {
    if (r->at >= r->n) fail(r, "expected the closing '\"' of a string");
    char c = r->s[r->at];
    if (c == '"') break;
    if (c == '\n' || c == '\r') fail(r, "expected '\"' before the end of the line (a newline in a string is written \\n)");
    r->at++;
    if (c != '\\') {
      luaL_addchar(&b, c);
      continue;
    }
    if (r->at >= r->n) fail(r, "expected an escape after '\\'");
    char e = r->s[r->at++];
    static const char escapes[] = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"\'\'\n\n"; /* letter, then the byte */
    const char *simple = NULL;
    for (const char *p = escapes; *p && !simple; p += 2)
      if (*p == e) simple = p;
    if (simple) {
      luaL_addchar(&b, simple[1]);
    } else if (is_digit(e)) {
      int v = e - '0';
      for (int k = 0; k < 2 && r->at < r->n && is_digit(r->s[r->at]); k++) v = 10 * v + (r->s[r->at++] - '0');
      if (v > 255) {
        r->at--;
        fail(r, "expected a decimal escape of at most 255");
      }
      luaL_addchar(&b, (char)v);
    } else if (e == 'x' && r->n - r->at >= 2 && hex_value(r->s[r->at]) >= 0 && hex_value(r->s[r->at + 1]) >= 0) {
      luaL_addchar(&b, (char)(16 * hex_value(r->s[r->at]) + hex_value(r->s[r->at + 1])));
      r->at += 2;
    } else {
      r->at--;
      fail(r, "expected one of the escapes \\a \\b \\f \\n \\r \\t \\v \\\\ \\\" \\' \\ddd \\xXX");
    }
  }
  r->at++; /* the closing quote */
  luaL_pushresult(&b);
}

static void read_value(reader *r);

/* A table key: anything but a table, and not NaN (Lua tables cannot hold it). */
static void read_key(reader *r) {
  skip_space(r);
  size_t at = r->at;
  if (r->at < r->n && r->s[r->at] == '{') fail(r, "expected a number, string or boolean as a key");
  read_value(r);
  if (lua_type(r->L, -1) == LUA_TNUMBER && lua_tonumber(r->L, -1) != lua_tonumber(r->L, -1)) {
    r->at = at;
    fail(r, "expected a key that is not NaN");
  }
}

static void expect(reader *r, char c, const char *what) {
  skip_space(r);
  if (r->at >= r->n || r->s[r->at] != c) fail(r, what);
  r->at++;
}

static void read_table(reader *r) {
  if (++r->depth > MAX_DEPTH) fail(r, "expected tables nested at most 100 deep");
  luaL_checkstack(r->L, 4, "training state");
  r->at++; /* { */
  lua_newtable(r->L);
  skip_space(r);
  if (r->at < r->n && r->s[r->at] == '}') {
    r->at++;
    r->depth--;
    return;
  }
  for (;;) {
    expect(r, '[', "expected '[' starting a field [key]=value");
    read_key(r);
    expect(r, ']', "expected ']' after a key");
    expect(r, '=', "expected '=' after [key]");
    read_value(r);
    lua_rawset(r->L, -3);
    skip_space(r);
    if (r->at < r->n && r->s[r->at] == ',') {
      r->at++;
      continue;
    }
    expect(r, '}', "expected ',' or '}' after a field");
    break;
  }
  r->depth--;
}

static void read_value(reader *r) {
  skip_space(r);
  if (r->at >= r->n) fail(r, "expected a value");
  char c = r->s[r->at];
  if (c == '{') read_table(r);
  else if (c == '"') read_string(r);
  else if (c == '-' || is_digit(c)) read_number(r);
  else if (accept(r, "true")) lua_pushboolean(r->L, 1);
  else if (accept(r, "false")) lua_pushboolean(r->L, 0);
  else if (accept(r, "(0/0)")) lua_pushnumber(r->L, (lua_Number)NAN);
  else if (accept(r, "(1/0)")) lua_pushnumber(r->L, (lua_Number)HUGE_VAL);
  else if (accept(r, "(-1/0)")) lua_pushnumber(r->L, -(lua_Number)HUGE_VAL);
  else fail(r, "expected a value (a number, string, boolean or table)");
}

int nn_lua_deserialize(lua_State *L) {
  reader r = {L, NULL, 0, 0, 0};
  r.s = luaL_checklstring(L, 1, &r.n);
  lua_settop(L, 1);
  read_value(&r);
  skip_space(&r);
  if (r.at < r.n) fail(&r, "expected the end after the value");
  return 1;
}
