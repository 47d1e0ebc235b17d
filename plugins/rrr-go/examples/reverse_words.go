package main

import "strings"

// reverseWords returns the words of s in reverse order, separated by single spaces.
// >>> reverseWords("hello big world")
// "world big hello"
// >>> reverseWords("one")
// "one"
func reverseWords(s string) string {
}
