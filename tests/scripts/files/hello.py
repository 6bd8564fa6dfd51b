# Traced by the Python case of tests/scripts/usdt.test: the file name, the
# functions and their first lines are its expectations.


def greet(name):
    return "hello " + name


def add(a, b):
    return a + b


def main():
    greet("usdt")
    for i in range(2):
        add(i, 2)


main()
