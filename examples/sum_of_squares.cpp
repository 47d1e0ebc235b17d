#include <bits/stdc++.h>
#include <assert.h>
// Return the sum of the squares of the numbers in the vector.
// >>> sum_of_squares((std::vector<long>({1, 2, 3})))
// (14)
// >>> sum_of_squares((std::vector<long>()))
// (0)
long sum_of_squares(std::vector<long> numbers) {
}
