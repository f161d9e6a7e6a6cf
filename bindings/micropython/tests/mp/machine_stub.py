# The board's machine.Pin, replaced by a recorder: every level written is
# printed as "LED <value>", in order, for the test to compare.
OUT = 1
IN = 0


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, pin_id, mode=-1, value=None):
        self.id = pin_id
        self.level = 0
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        print("LED", v)
