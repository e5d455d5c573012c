#include <cstdio>
int main() { std::puts("resec: not wired yet"); return 1; }
