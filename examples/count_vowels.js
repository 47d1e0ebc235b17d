// Count the vowels (a, e, i, o, u, either case) in a string.
// >>> count_vowels("Hello World")
// 3
// >>> count_vowels("xyz")
// 0
function count_vowels(text) {
}
