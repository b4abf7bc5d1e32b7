/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQL text helpers shared by the SQL protocol parsers (MySQL, PostgreSQL): literal
 * obfuscation that keeps a statement's shape, and a cheap "does this begin like SQL"
 * test for detection. Pure functions over byte views; no allocation.
 */
#ifndef OB_PROTO_SQL_TEXT_H
#define OB_PROTO_SQL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sql_dialect {
	SQL_DIALECT_MYSQL = 0, /* "..." is a string, `...` an identifier, # a comment */
	SQL_DIALECT_PG = 1,    /* "..." is an identifier, $n a parameter, $tag$...$tag$ a string */
};

/*
 * Copy the SQL in[0..n) into out (at most cap bytes), each literal (quoted string,
 * number, dollar-quoted string) replaced by '?'. Identifiers, keywords, comments,
 * placeholders and punctuation are kept as they are, so the statement keeps its shape:
 * "IN (1, 2)" becomes "IN (?, ?)". A literal cut short by the end of the input still
 * becomes '?'. Returns the number of bytes written.
 */
size_t sql_obfuscate(const uint8_t *in, size_t n, char *out, size_t cap, enum sql_dialect d);

/*
 * Does the text begin (after blanks, comments and opening parentheses) with a word that
 * starts an SQL statement? Used only to strengthen detection.
 */
bool sql_starts_like_statement(const uint8_t *in, size_t n);

#endif
