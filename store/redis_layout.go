package store

import "strings"

// redisLayout names the keys, and the change channel, of one prefix: the
// layout Redis's doc describes, and the KEYS and ARGV its scripts take.
type redisLayout struct{ prefix string }

// bucketEscaper makes a bucket name safe between the braces of its hash tag.
var bucketEscaper = strings.NewReplacer("%", "%25", "}", "%7D")

// bucketTag is PREFIX{BUCKET}, which starts every key of the bucket.
func (l redisLayout) bucketTag(bucket string) string {
	return l.prefix + "{" + bucketEscaper.Replace(bucket) + "}"
}

// valueBase is what a value key starts with; the ID follows unescaped (the
// brace before it already ends the bucket).
func (l redisLayout) valueBase(bucket string) string { return l.bucketTag(bucket) + ":" }

func (l redisLayout) valueKey(k Key) string { return l.valueBase(k.Bucket) + k.ID }

func (l redisLayout) indexKey(bucket string) string { return l.bucketTag(bucket) + "#ids" }

// channel is the pub/sub channel of change notifications.
func (l redisLayout) channel() string { return l.prefix + "changes" }

// storeKeys are the KEYS of storeScript and incrScript.
func (l redisLayout) storeKeys(k Key) []string {
	return []string{l.valueKey(k), l.indexKey(k.Bucket)}
}

// storeArgv is storeScript's ARGV.
func (l redisLayout) storeArgv(k Key, value []byte, ttlMillis int64, onlyIfAbsent bool) []any {
	mode := ""
	if onlyIfAbsent {
		mode = "nx"
	}
	return []any{value, ttlMillis, mode, k.ID, l.valueBase(k.Bucket)}
}

// listArgs are listScript's KEYS and ARGV for one page of a bucket; limit
// is already capped.
func (l redisLayout) listArgs(bucket, after string, limit int, reverse bool) ([]string, []any) {
	// Lexicographic ranges of a sorted set whose scores are all 0 compare
	// members byte-wise, the order List promises; "(x" excludes x.
	start, end, descending := "-", "+", "0"
	if reverse {
		start, end, descending = "+", "-", "1"
	}
	if after != "" {
		start = "(" + after
	}
	return []string{l.indexKey(bucket)}, []any{l.valueBase(bucket), start, end, limit, descending}
}

// listEntries reads listScript's {id, value, ...} reply.
func listEntries(flat []string) []Entry {
	var out []Entry
	for i := 0; i+1 < len(flat); i += 2 {
		out = append(out, Entry{ID: flat[i], Value: []byte(flat[i+1])})
	}
	return out
}
