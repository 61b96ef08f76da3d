// Macros that <windows.h> and other C headers define, which break code that names min, max,
// ERROR, DELETE, ... Included by the hostile_macros_*.cpp tests.
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define ERROR 0
#define DELETE
#define GET
#define POST
#define DEBUG 1
#define INFO 2
#define WARNING 3
#define NO_ERROR 0
#define IN
#define OUT
#define OPTIONAL
#define TRUE 1
#define FALSE 0
