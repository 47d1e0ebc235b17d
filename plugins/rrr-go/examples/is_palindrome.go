package main

// isPalindrome reports whether s reads the same forwards and backwards.
// >>> isPalindrome("racecar")
// true
// >>> isPalindrome("go")
// false
// >>> isPalindrome("")
// true
func isPalindrome(s string) bool {
}
