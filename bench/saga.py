NAME = "saga"

def steps(args):
    return 1

def run(args, bar):
    return {"status": "todo"}
