def write(results, out, smoke):
    return []
