package main

// sumOfSquares returns the sum of the squares of the numbers in nums.
// >>> sumOfSquares([]int{1, 2, 3})
// 14
// >>> sumOfSquares([]int{})
// 0
// >>> sumOfSquares([]int{-4, 5})
// 41
func sumOfSquares(nums []int) int {
}
